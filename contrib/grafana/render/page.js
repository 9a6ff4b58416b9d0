// Draws window.DASHBOARD (written by render.mjs) the way Grafana's dark theme lays it out.
const D = window.DASHBOARD;
const PALETTE = ['#73BF69', '#F2CC0C', '#8AB8FF', '#FF780A', '#F2495C', '#5794F2', '#B877D9',
  '#705DA0', '#37872D', '#FADE2A', '#447EBC', '#C15C17', '#890F02', '#0A437C', '#6D1F62', '#584477'];
const NAMED = { green: '#73BF69', red: '#F2495C', orange: '#FF9830', yellow: '#FADE2A', blue: '#5794F2',
  purple: '#B877D9', 'dark-red': '#C4162A', text: '#ccccdc' };
const color = (c) => NAMED[c] ?? c;

// Grafana's units: IEC bytes, seconds scaled down to ms and µs, ratios as percent.
function fmt(v, unit, decimals) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  const num = (x, d) => {
    const dd = decimals ?? (Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2);
    return x.toFixed(dd).replace(/\.0+$/, '').replace(/(\.\d*?)0+$/, '$1');
  };
  const scaled = (x, k, units, suffix = '') => {
    let i = 0;
    while (Math.abs(x) >= k && i < units.length - 1) { x /= k; i++; }
    return `${num(x)} ${units[i]}${suffix}`;
  };
  switch (unit) {
    case 'bytes': return scaled(v, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB']);
    case 'Bps': return scaled(v, 1024, ['B/s', 'KiB/s', 'MiB/s', 'GiB/s']);
    case 'percentunit': return `${num(v * 100, decimals)}%`;
    case 'ops': return `${num(v)} ops/s`;
    case 's':
      if (v === 0) return '0 s';
      if (Math.abs(v) < 0.001) return `${num(v * 1e6)} µs`;
      if (Math.abs(v) < 1) return `${num(v * 1000)} ms`;
      return `${num(v)} s`;
    default: return num(v, decimals);
  }
}

// A time axis label in UTC, with seconds only when the ticks are less than a minute apart.
function clock(t, spacing) {
  const s = new Date(t * 1000).toISOString();
  return spacing < 60 ? s.slice(11, 19) : s.slice(11, 16);
}

// Enough decimals that neighbouring ticks differ, for units that are not rescaled.
function tickDecimals(vals, unit) {
  if (['bytes', 'Bps', 's'].includes(unit) || vals.length < 2) return undefined;
  const incr = Math.abs(vals[1] - vals[0]) * (unit === 'percentunit' ? 100 : 1);
  return incr > 0 ? Math.max(0, Math.min(4, -Math.floor(Math.log10(incr) + 1e-9))) : 0;
}

function threshold(v, thresholds) {
  let c = 'green';
  for (const s of thresholds?.steps ?? []) if (s.value === null || v >= s.value) c = s.color;
  return color(c);
}

function mapped(v, mappings) {
  for (const m of mappings ?? []) {
    const o = m.type === 'value' && m.options[String(v)];
    if (o) return { text: o.text, color: o.color && color(o.color) };
  }
  return null;
}

// fieldConfig for one series: defaults, then overrides matching its name.
function field(panel, name) {
  const f = { ...panel.fieldConfig.defaults };
  for (const o of panel.fieldConfig.overrides ?? []) {
    if (o.matcher.id === 'byName' && o.matcher.options === name) {
      for (const p of o.properties) {
        if (p.id === 'color') f.fixedColor = color(p.value.fixedColor);
        else f[p.id] = p.value;
      }
    }
  }
  return f;
}

function el(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function header() {
  const h = document.getElementById('header');
  el('h1', null, h, D.title);
  for (const v of D.variables) {
    const x = el('span', 'var', h);
    el('b', null, x, v);
    x.appendChild(document.createTextNode('All'));
  }
  const t = (s) => new Date(s * 1000).toISOString().slice(0, 19).replace('T', ' ');
  el('span', 'var', h, `${t(D.start)} to ${t(D.end).slice(11)} UTC`).id = 'range';
}

function frame(p) {
  const d = el('div', 'panel', document.body);
  Object.assign(d.style, { left: `${p.box.x}px`, top: `${p.box.y}px`, width: `${p.box.w}px`, height: `${p.box.h}px` });
  el('div', 'title', d, p.title);
  if (p.errors.length) el('div', 'err', d, p.errors.join('\n'));
  else if (!p.series.length) el('div', 'nodata', d, 'No data');
  return d;
}

function timeseries(p) {
  const d = frame(p);
  if (!p.series.length || p.errors.length) return;
  const def = p.fieldConfig.defaults;
  const custom = def.custom ?? {};
  // One x axis for all series: the instants Prometheus evaluated the range query at.
  const xs = [];
  for (let t = D.start; t <= D.end; t += p.step) xs.push(t);
  const at = new Map(xs.map((t, i) => [t, i]));
  const cols = p.series.map((s) => {
    const c = new Array(xs.length).fill(null);
    for (const [t, v] of s.points) if (at.has(t) && Number.isFinite(v)) c[at.get(t)] = v;
    return c;
  });
  const stacked = custom.stacking?.mode === 'normal';
  const drawn = stacked ? cols.map((c, i) => c.map((v, k) => {
    if (v === null) return null;
    let sum = 0;
    for (let j = 0; j <= i; j++) sum += cols[j][k] ?? 0;
    return sum;
  })) : cols;
  const colors = p.series.map((s, i) => field(p, s.name).fixedColor ?? PALETTE[i % PALETTE.length]);
  // The legend first: the plot gets the height it leaves (at most 40 % of the panel for it).
  const lg = el('div', 'legend', d);
  lg.style.maxHeight = `${Math.floor((p.box.h * 0.4) / 18) * 18}px`;
  p.series.forEach((s, i) => {
    const x = el('span', null, lg);
    el('i', null, x).style.background = colors[i];
    x.appendChild(document.createTextNode(s.name));
  });
  const legendH = lg.offsetHeight + 8;
  const bars = custom.drawStyle === 'bars';
  const alpha = (c, a) => c + Math.round(a * 255).toString(16).padStart(2, '0');
  const series = [{}].concat(p.series.map((s, i) => ({
    label: s.name,
    stroke: colors[i],
    width: custom.lineWidth ?? 1,
    fill: alpha(colors[i], (custom.fillOpacity ?? 10) / 100),
    paths: bars ? uPlot.paths.bars({ size: [0.7, 40] }) : undefined,
    points: { show: false },
    spanGaps: false,
  })));
  const bands = stacked ? drawn.slice(1).map((_, i) => ({ series: [i + 2, i + 1] })) : [];
  const axis = { stroke: '#9fa0ab', grid: { stroke: 'rgba(204,204,220,0.08)', width: 1 }, ticks: { show: false },
    font: '11px DejaVu Sans, sans-serif' };
  const opts = {
    width: p.box.w - 12, height: p.box.h - 36 - legendH,
    legend: { show: false }, cursor: { show: false }, select: { show: false },
    series, bands,
    scales: { x: { time: true }, y: { range: (u, lo, hi) => [Math.min(def.min ?? custom.axisSoftMin ?? lo, lo),
      def.max ?? (hi > 0 ? hi * 1.1 : 1)] } },
    axes: [{ ...axis, space: 70, values: (u, vals) => vals.map((v) => clock(v, vals[1] - vals[0])) },
      { ...axis, size: 70, values: (u, vals) => vals.map((v) => fmt(v, def.unit, tickDecimals(vals, def.unit))) }],
  };
  const box = el('div', null, d);
  Object.assign(box.style, { position: 'absolute', left: '4px', top: '32px' });
  new uPlot(opts, [xs].concat(drawn), box);
}

function stat(p) {
  const d = frame(p);
  if (!p.series.length || p.errors.length) return;
  const wrap = el('div', 'stats', d);
  const vertical = p.box.h > p.box.w * 0.9 && p.series.length > 1;
  if (vertical) wrap.classList.add('column');
  const bg = p.options.colorMode === 'background';
  const size = Math.max(16, Math.min(40, (vertical ? (p.box.h - 40) / p.series.length : p.box.h - 40) * 0.45,
    (vertical ? p.box.w : p.box.w / p.series.length) / 5));
  for (const s of p.series) {
    const f = field(p, s.name);
    const m = mapped(s.value, f.mappings);
    const c = m?.color ?? f.fixedColor ?? threshold(s.value, f.thresholds);
    const box = el('div', 'stat', wrap);
    if (bg) box.style.background = `linear-gradient(120deg, ${c}, ${c}cc)`;
    const show = p.series.length > 1 || (s.name && p.options.textMode === 'value_and_name' && s.name !== p.title);
    if (show) el('div', 'name', box, s.name || '(standalone)').style.color = bg ? '#fff' : '';
    const v = el('div', 'value', box, m?.text ?? fmt(s.value, f.unit, f.decimals));
    v.style.fontSize = `${size}px`;
    v.style.color = bg ? '#fff' : c;
  }
}

function bargauge(p) {
  const d = frame(p);
  if (!p.series.length || p.errors.length) return;
  const wrap = el('div', 'bars', d);
  const f0 = p.fieldConfig.defaults;
  for (const s of [...p.series].sort((a, b) => a.name.localeCompare(b.name))) {
    const f = field(p, s.name);
    const c = threshold(s.value, f.thresholds);
    const b = el('div', 'bar', wrap);
    el('div', 'name', b, s.name);
    const tr = el('div', 'track', b);
    const frac = Math.max(0, Math.min(1, (s.value - (f0.min ?? 0)) / ((f0.max ?? 1) - (f0.min ?? 0))));
    const fill = el('div', 'fill', tr);
    fill.style.width = `${Math.max(0.5, frac * 100)}%`;
    fill.style.background = `linear-gradient(90deg, ${c}66, ${c})`;
    el('div', 'val', tr, fmt(s.value, f.unit, f.decimals)).style.color = c;
  }
}

header();
for (const p of D.panels) {
  if (p.type === 'row') {
    const r = el('div', 'row', document.body, p.title);
    Object.assign(r.style, { left: `${p.box.x}px`, top: `${p.box.y}px` });
  } else if (p.type === 'timeseries') timeseries(p);
  else if (p.type === 'stat') stat(p);
  else if (p.type === 'bargauge') bargauge(p);
  else frame(p);
}
const foot = el('div', null, document.body,
  'Drawn by contrib/grafana/render (uPlot) from contrib/grafana/proxmox-lxcri.json: each panel\u2019s PromQL evaluated by '
  + 'Prometheus on data scraped from proxmox-lxcri metrics --listen on a pve-sim cluster. Not a Grafana screenshot.');
foot.id = 'footer';
foot.style.top = `${D.height - 30}px`;
document.title = 'rendered';
