/**
 * A small SVG line-plot writer for training curves (no dependencies, no DOM): one or more charts
 * side by side in one SVG document, each with axes, "nice" ticks and grid lines, axis labels, a
 * title, a legend, and any number of series drawn as polylines (optionally with point markers).
 *
 *   const svg = figureSvg([
 *     { title: 'Loss', xLabel: 'step', yLabel: 'nats/char', series: [{ name: 'train', points }] },
 *   ]);
 *
 * Non-finite points are skipped. Every text is XML-escaped; the output is a complete, well-formed
 * SVG 1.1 document. Portable: no Node APIs.
 */

export interface Series {
  name: string;
  /** [x, y] pairs, drawn in the given order. */
  points: ReadonlyArray<readonly [number, number]>;
  /** CSS colour; default: the next colour of the palette. */
  color?: string;
  dashed?: boolean;
  /** Draw a small circle at every point (for sparse series such as validation results). */
  markers?: boolean;
}

/** One chart of a figure: title, axes, series. */
export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Force the y range to include these values (e.g. 0 and 1 for an accuracy). */
  yInclude?: readonly number[];
}

/** Size and title of a figure of charts. */
export interface FigureOptions {
  /** Size of each chart in px (default 520 × 360). */
  chartWidth?: number;
  chartHeight?: number;
  /** Charts per row (default: all in one row). */
  columns?: number;
}

/** Matplotlib's tab10 start: distinguishable and colour-blind tolerable. */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** Escapes text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * Tick values covering [lo, hi] with a step of 1, 2 or 5 × 10^k giving about `target` intervals;
 * the returned range [min, max] is the data range widened to whole steps.
 */
export function niceTicks(lo: number, hi: number, target = 5): { ticks: number[]; min: number; max: number; step: number } {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new RangeError(`niceTicks: range [${lo}, ${hi}] is not finite`);
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const rough = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(rough));
  const norm = rough / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const min = Math.floor(lo / step + 1e-9) * step;
  const max = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; min + i * step <= max + step * 1e-9; i++) ticks.push(roundTo(min + i * step, step));
  return { ticks, min, max, step };
}

/** v rounded to the decimals that `step` needs (removes 0.30000000000000004 artefacts). */
function roundTo(v: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(decimals, 15)));
}

/** A tick label: as many decimals as the step needs, thousands as 'k' for large integers. */
export function formatTick(v: number, step: number): string {
  if (Math.abs(v) >= 10_000 && step >= 1000) return `${Number((v / 1000).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1000)))))}k`;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(Math.min(decimals, 10));
}

const f = (x: number): string => (Math.round(x * 100) / 100).toString();

interface Box { x: number; y: number; width: number; height: number }

/** One chart as an SVG group inside `box`. */
export function chartSvg(spec: ChartSpec, box: Box, paletteOffset = 0): string {
  const margin = { left: 64, right: 16, top: 34, bottom: 46 };
  const plot = {
    x: box.x + margin.left, y: box.y + margin.top,
    width: box.width - margin.left - margin.right, height: box.height - margin.top - margin.bottom,
  };
  const finite = spec.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const xs = finite.map(([x]) => x), ys = [...finite.map(([, y]) => y), ...(spec.yInclude ?? [])];
  const xt = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1, 6);
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, 5);
  const sx = (x: number) => plot.x + ((x - xt.min) / (xt.max - xt.min)) * plot.width;
  const sy = (y: number) => plot.y + plot.height - ((y - yt.min) / (yt.max - yt.min)) * plot.height;

  const out: string[] = [`<g class="chart">`];
  out.push(`<text x="${f(box.x + box.width / 2)}" y="${f(box.y + 20)}" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(spec.title)}</text>`);
  // Grid and ticks.
  for (const t of yt.ticks) {
    const y = sy(t);
    out.push(`<line x1="${f(plot.x)}" y1="${f(y)}" x2="${f(plot.x + plot.width)}" y2="${f(y)}" stroke="#e6e6e6"/>`);
    out.push(`<text x="${f(plot.x - 6)}" y="${f(y + 4)}" text-anchor="end" font-size="11">${escapeXml(formatTick(t, yt.step))}</text>`);
  }
  for (const t of xt.ticks) {
    const x = sx(t);
    out.push(`<line x1="${f(x)}" y1="${f(plot.y)}" x2="${f(x)}" y2="${f(plot.y + plot.height)}" stroke="#e6e6e6"/>`);
    out.push(`<text x="${f(x)}" y="${f(plot.y + plot.height + 16)}" text-anchor="middle" font-size="11">${escapeXml(formatTick(t, xt.step))}</text>`);
  }
  // Axes and labels.
  out.push(`<rect x="${f(plot.x)}" y="${f(plot.y)}" width="${f(plot.width)}" height="${f(plot.height)}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${f(plot.x + plot.width / 2)}" y="${f(box.y + box.height - 8)}" text-anchor="middle" font-size="12">${escapeXml(spec.xLabel)}</text>`);
  const ly = plot.y + plot.height / 2, lx = box.x + 16;
  out.push(`<text x="${f(lx)}" y="${f(ly)}" text-anchor="middle" font-size="12" transform="rotate(-90 ${f(lx)} ${f(ly)})">${escapeXml(spec.yLabel)}</text>`);
  // Series, clipped to the plot area.
  spec.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[(paletteOffset + i) % PALETTE.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const attrs = `class="series" data-name="${escapeXml(s.name)}"`;
    if (pts.length > 1) {
      const d = pts.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ');
      out.push(`<polyline ${attrs} points="${d}" fill="none" stroke="${escapeXml(color)}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''} stroke-linejoin="round"/>`);
    }
    if (s.markers || pts.length === 1) {
      out.push(`<g class="markers" data-name="${escapeXml(s.name)}" fill="${escapeXml(color)}">`);
      for (const [x, y] of pts) out.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="2.8"/>`);
      out.push('</g>');
    }
  });
  // Legend inside the plot, in the corner that hides the fewest points (top right on ties).
  const rowH = 16, legendW = 12 + 24 + 7 * Math.max(0, ...spec.series.map((s) => s.name.length)) + 10;
  const legendH = rowH * spec.series.length + 8;
  const corners = [
    [plot.x + plot.width - legendW - 8, plot.y + 8], [plot.x + plot.width - legendW - 8, plot.y + plot.height - legendH - 8],
    [plot.x + 8, plot.y + 8], [plot.x + 8, plot.y + plot.height - legendH - 8],
  ] as const;
  // The drawn curves in pixels, each segment sampled so that a line crossing a corner counts too.
  const drawn: [number, number][] = [];
  for (const s of spec.series) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).map(([x, y]) => [sx(x), sy(y)] as const);
    pts.forEach(([x, y], i) => {
      const [px, py] = i > 0 ? pts[i - 1]! : [x, y];
      for (let k = i > 0 ? 1 : 0; k <= 8; k++) drawn.push([px + ((x - px) * k) / 8, py + ((y - py) * k) / 8]);
    });
  }
  const hidden = ([cx, cy]: readonly [number, number]) =>
    drawn.filter(([x, y]) => x >= cx - 10 && x <= cx + legendW + 10 && y >= cy - 10 && y <= cy + legendH + 10).length;
  const [lx0, ly0] = corners.reduce((best, c) => (hidden(c) < hidden(best) ? c : best));
  if (spec.series.length) {
    out.push(`<g class="legend"><rect x="${f(lx0)}" y="${f(ly0)}" width="${f(legendW)}" height="${f(legendH)}" fill="white" fill-opacity="0.85" stroke="#bbb"/>`);
    spec.series.forEach((s, i) => {
      const color = s.color ?? PALETTE[(paletteOffset + i) % PALETTE.length];
      const y = ly0 + 4 + rowH * i + rowH / 2;
      out.push(`<line x1="${f(lx0 + 8)}" y1="${f(y)}" x2="${f(lx0 + 30)}" y2="${f(y)}" stroke="${escapeXml(color)}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
      out.push(`<text x="${f(lx0 + 36)}" y="${f(y + 4)}" font-size="11">${escapeXml(s.name)}</text>`);
    });
    out.push('</g>');
  }
  out.push('</g>');
  return out.join('\n');
}

/** A complete SVG document with the charts laid out in a grid. */
export function figureSvg(charts: readonly ChartSpec[], opts: FigureOptions = {}): string {
  const w = opts.chartWidth ?? 520, h = opts.chartHeight ?? 360;
  const columns = Math.max(1, Math.min(opts.columns ?? charts.length, charts.length || 1));
  const rows = Math.max(1, Math.ceil(charts.length / columns));
  const width = w * columns, height = h * rows;
  let colorOffset = 0;
  const body = charts.map((c, i) => {
    const g = chartSvg(c, { x: (i % columns) * w, y: Math.floor(i / columns) * h, width: w, height: h }, colorOffset);
    colorOffset += c.series.length;
    return g;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
