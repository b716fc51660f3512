/**
 * The loss chart as an SVG string: training loss as a line, eval loss as a line with dots, against the step.
 * Built here (not with a chart library in the webview) so it is testable and the webview needs no script source
 * beyond the message handler that swaps the SVG in.
 */
import type { MetricPoint } from "./runs";

export type XY = [number, number];

export interface LossSeries {
  train: XY[];
  eval: XY[];
}

/** Training and eval loss by step; points without a finite value are skipped, repeated steps keep the latest. */
export function lossSeries(points: readonly MetricPoint[]): LossSeries {
  const train = new Map<number, number>();
  const evalLoss = new Map<number, number>();
  for (const p of points) {
    if (p.loss !== undefined && Number.isFinite(p.loss)) {
      train.set(p.step, p.loss);
    }
    if (p.evalLoss !== undefined && Number.isFinite(p.evalLoss)) {
      evalLoss.set(p.step, p.evalLoss);
    }
  }
  const sorted = (m: Map<number, number>): XY[] => [...m.entries()].sort((a, b) => a[0] - b[0]);
  return { train: sorted(train), eval: sorted(evalLoss) };
}

/** At most `max` points: bucket means, keeping the first and last point exactly. */
export function downsample(points: readonly XY[], max: number): XY[] {
  if (points.length <= max || max < 3) {
    return [...points];
  }
  const inner = points.slice(1, -1);
  const buckets = max - 2;
  const size = inner.length / buckets;
  const out: XY[] = [points[0]];
  for (let b = 0; b < buckets; b++) {
    const chunk = inner.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (chunk.length === 0) {
      continue;
    }
    const x = chunk.reduce((s, p) => s + p[0], 0) / chunk.length;
    const y = chunk.reduce((s, p) => s + p[1], 0) / chunk.length;
    out.push([x, y]);
  }
  out.push(points[points.length - 1]);
  return out;
}

/** About `count` round tick values covering [min, max] (1, 2, 2.5 or 5 times a power of ten apart). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    return [];
  }
  if (min === max) {
    return [min];
  }
  const raw = (max - min) / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

export interface ChartOptions {
  width: number;
  height: number;
  maxPoints?: number;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c] ?? c);
}

function formatTick(v: number): string {
  return Math.abs(v) >= 1000 ? `${Number((v / 1000).toPrecision(3))}k` : String(Number(v.toPrecision(4)));
}

/** The whole chart; an empty-state text when there is nothing to plot yet. */
export function renderLossChart(points: readonly MetricPoint[], options: ChartOptions): string {
  const { width, height } = options;
  const series = lossSeries(points);
  const all = [...series.train, ...series.eval];
  const open = `<svg xmlns="http://www.w3.org/2000/svg" class="loss-chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="Training and eval loss by step">`;
  if (all.length === 0) {
    return `${open}<text class="empty" x="${width / 2}" y="${height / 2}" text-anchor="middle">No loss values yet: waiting for metrics.jsonl.</text></svg>`;
  }
  const margin = { left: 56, right: 16, top: 28, bottom: 40 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  let xMin = Math.min(...all.map((p) => p[0]));
  let xMax = Math.max(...all.map((p) => p[0]));
  let yMin = Math.min(...all.map((p) => p[1]));
  let yMax = Math.max(...all.map((p) => p[1]));
  if (xMin === xMax) {
    xMin -= 1;
    xMax += 1;
  }
  const pad = (yMax - yMin || Math.abs(yMax) || 1) * 0.08;
  yMin = Math.max(0, yMin - pad);
  yMax += pad;
  const sx = (x: number) => margin.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number) => margin.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  const fmt = (n: number) => n.toFixed(1);

  const parts: string[] = [open];
  for (const t of niceTicks(yMin, yMax, 5)) {
    parts.push(
      `<line class="grid" x1="${margin.left}" x2="${width - margin.right}" y1="${fmt(sy(t))}" y2="${fmt(sy(t))}"/>`,
      `<text class="tick" x="${margin.left - 6}" y="${fmt(sy(t) + 4)}" text-anchor="end">${formatTick(t)}</text>`,
    );
  }
  for (const t of niceTicks(xMin, xMax, 6).filter((t) => Number.isInteger(t))) {
    parts.push(
      `<line class="axis-tick" x1="${fmt(sx(t))}" x2="${fmt(sx(t))}" y1="${margin.top + plotH}" y2="${margin.top + plotH + 4}"/>`,
      `<text class="tick" x="${fmt(sx(t))}" y="${margin.top + plotH + 18}" text-anchor="middle">${formatTick(t)}</text>`,
    );
  }
  parts.push(
    `<line class="axis" x1="${margin.left}" x2="${width - margin.right}" y1="${margin.top + plotH}" y2="${margin.top + plotH}"/>`,
    `<line class="axis" x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + plotH}"/>`,
    `<text class="label" x="${margin.left + plotW / 2}" y="${height - 6}" text-anchor="middle">step</text>`,
    `<text class="label" transform="translate(14 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">loss</text>`,
  );
  const polyline = (pts: XY[], cls: string) =>
    `<polyline class="${cls}" fill="none" points="${pts.map((p) => `${fmt(sx(p[0]))},${fmt(sy(p[1]))}`).join(" ")}"/>`;
  if (series.train.length > 0) {
    parts.push(polyline(downsample(series.train, options.maxPoints ?? 800), "train"));
  }
  if (series.eval.length > 0) {
    parts.push(polyline(series.eval, "eval"));
    if (series.eval.length <= 200) {
      for (const p of series.eval) {
        parts.push(`<circle class="eval-dot" cx="${fmt(sx(p[0]))}" cy="${fmt(sy(p[1]))}" r="3"/>`);
      }
    }
  }
  const legend: string[] = [];
  const last = (s: XY[]) => s[s.length - 1];
  if (series.train.length > 0) {
    legend.push(`<tspan class="train-key">■ train ${escapeXml(last(series.train)[1].toFixed(4))}</tspan>`);
  }
  if (series.eval.length > 0) {
    legend.push(`<tspan class="eval-key" dx="14">■ eval ${escapeXml(last(series.eval)[1].toFixed(4))}</tspan>`);
  }
  parts.push(`<text class="legend" x="${margin.left}" y="16">${legend.join("")}</text>`, "</svg>");
  return parts.join("");
}
