// Grafana's dashboard grid: 24 columns across the page, rows of 30 px, 8 px between panels.
export const PAGE_WIDTH = 1600;
export const HEADER = 64;
const COLS = 24, CELL_H = 30, MARGIN = 8;

// gridPos of every panel -> its box in pixels on the page.
export function layout(panels) {
  const col = (PAGE_WIDTH - MARGIN * (COLS + 1)) / COLS;
  const boxes = new Map();
  for (const p of panels) {
    const g = p.gridPos;
    boxes.set(p.id, {
      x: Math.round(MARGIN + g.x * (col + MARGIN)),
      y: HEADER + g.y * (CELL_H + MARGIN),
      w: Math.round(g.w * col + (g.w - 1) * MARGIN),
      h: g.h * CELL_H + (g.h - 1) * MARGIN,
    });
  }
  return boxes;
}
