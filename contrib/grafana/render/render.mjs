// Evaluates every panel query of a Grafana dashboard JSON on a Prometheus server and writes a
// static page (page.html, page.js, uPlot) that draws the panels at their gridPos; render.sh
// screenshots it with headless Chromium. Not Grafana: just enough of its panel model (timeseries,
// stat, bargauge, rows) to show what the dashboard's queries return on real data.
//
// node render.mjs --dashboard FILE --prom URL --start UNIX --end UNIX --scrape SECONDS --out DIR
// prints "WIDTH HEIGHT" of the page on stdout.
import { readFileSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { layout, PAGE_WIDTH } from './layout.mjs';

const here = dirname(fileURLToPath(import.meta.url));

function args() {
  const a = {};
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    if (!v[i].startsWith('--') || v[i + 1] === undefined) throw new Error(`bad argument ${v[i]}`);
    a[v[i].slice(2)] = v[i + 1];
  }
  for (const k of ['dashboard', 'prom', 'start', 'end', 'scrape', 'out']) {
    if (!(k in a)) throw new Error(`missing --${k}`);
  }
  return a;
}

// Grafana's variables as the dashboard opens: every template variable at "All", the built-in
// intervals from the time range and the panel's width (Grafana's $__rate_interval rule:
// max(interval + scrape interval, 4 x scrape interval)).
function substitute(expr, dash, { step, scrape, range }) {
  let e = expr
    .replaceAll('$__rate_interval', `${Math.max(step + scrape, 4 * scrape)}s`)
    .replaceAll('$__range', `${range}s`)
    .replaceAll('$__interval', `${step}s`);
  for (const v of dash.templating?.list ?? []) {
    const all = v.allValue ?? '.*';
    e = e.replaceAll(`\${${v.name}}`, all).replaceAll(`$${v.name}`, all);
  }
  return e;
}

async function prom(base, path, params) {
  const url = `${base}${path}?${new URLSearchParams(params)}`;
  const r = await fetch(url);
  const body = await r.json();
  if (body.status !== 'success') throw new Error(`${url}: ${body.error}`);
  return body.data.result;
}

function legend(fmt, metric) {
  if (!fmt) {
    const { __name__, ...rest } = metric;
    const l = Object.entries(rest).map(([k, v]) => `${k}="${v}"`).join(', ');
    return `${__name__ ?? ''}{${l}}`;
  }
  return fmt.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k) => metric[k] ?? '').trim();
}

async function main() {
  const a = args();
  const dash = JSON.parse(readFileSync(a.dashboard, 'utf8'));
  const start = Number(a.start), end = Number(a.end), scrape = Number(a.scrape);
  const range = end - start;
  const boxes = layout(dash.panels);
  const out = [];
  for (const p of dash.panels) {
    const box = boxes.get(p.id);
    const panel = { id: p.id, type: p.type, title: p.title, box, fieldConfig: p.fieldConfig, options: p.options, series: [], errors: [] };
    // One point per pixel at most, never finer than the scrape interval (Grafana's maxDataPoints).
    const step = Math.max(scrape, Math.ceil(range / Math.max(100, box.w - 60)));
    panel.step = step;
    for (const t of p.targets ?? []) {
      const expr = substitute(t.expr, dash, { step, scrape, range });
      try {
        if (p.type === 'timeseries') {
          const res = await prom(a.prom, '/api/v1/query_range', { query: expr, start, end, step });
          for (const s of res) {
            panel.series.push({ name: legend(t.legendFormat, s.metric), ref: t.refId,
              points: s.values.map(([ts, v]) => [ts, Number(v)]) });
          }
        } else {
          const res = await prom(a.prom, '/api/v1/query', { query: expr, time: end });
          for (const s of res) {
            panel.series.push({ name: legend(t.legendFormat, s.metric), ref: t.refId, value: Number(s.value[1]) });
          }
        }
      } catch (e) {
        panel.errors.push(String(e.message ?? e));
      }
    }
    out.push(panel);
  }
  mkdirSync(a.out, { recursive: true });
  const height = Math.max(...[...boxes.values()].map((b) => b.y + b.h)) + 48;
  const page = { title: dash.title, start, end, step: scrape, width: PAGE_WIDTH, height, panels: out,
    variables: (dash.templating?.list ?? []).map((v) => v.label ?? v.name) };
  writeFileSync(join(a.out, 'data.js'), `window.DASHBOARD = ${JSON.stringify(page)};\n`);
  for (const f of ['page.html', 'page.js']) copyFileSync(join(here, f), join(a.out, f));
  for (const f of ['uPlot.iife.min.js', 'uPlot.min.css']) {
    copyFileSync(join(here, 'node_modules/uplot/dist', f), join(a.out, f));
  }
  console.log(`${PAGE_WIDTH} ${height}`);
}

main().catch((e) => {
  console.error(`render: ${e.message ?? e}`);
  process.exit(1);
});
