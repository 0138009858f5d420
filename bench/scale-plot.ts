// The scale benchmark's figure: six panels (training step, its memory, a full evaluation, its memory, serving
// latency, model size) against the catalog size, the whole-catalog form beside the chunked one.
import { chartOf, writePng } from '../train/plot.js';

type Json = Record<string, unknown>;
/** A measurement's JSON line, or why it was not taken. */
export type Outcome = Json | { skipped: string } | { failed: string };

export interface ScaleForm {
  train: Outcome;
  eval: Outcome;
  serve: Outcome;
}
export interface ScalePoint {
  items: number;
  after: ScaleForm;
  before?: ScaleForm;
}

const num = (o: Outcome, k: string): number | null =>
  typeof (o as Json)[k] === 'number' ? ((o as Json)[k] as number) : null;

/** Seconds for every validation user, from the rate measured on the first evalUsers. */
export function fullEvalSeconds(o: Outcome): number | null {
  const s = num(o, 'evalSeconds'),
    n = num(o, 'evalUsers'),
    all = num(o, 'validUsers');
  return s === null || n === null || all === null ? null : (s * all) / n;
}

const PANELS: { title: string; value: (f: ScaleForm) => number | null }[] = [
  { title: 'training step (s)', value: (f) => (num(f.train, 'msPerStep') ?? NaN) / 1000 },
  { title: 'training peak RSS (GiB)', value: (f) => (num(f.train, 'peakRssMiB') ?? NaN) / 1024 },
  { title: 'full evaluation (min)', value: (f) => (fullEvalSeconds(f.eval) ?? NaN) / 60 },
  { title: 'evaluation peak RSS (GiB)', value: (f) => (num(f.eval, 'peakRssMiB') ?? NaN) / 1024 },
  {
    title: 'single-user top-10, p50 (ms)',
    value: (f) => ((f.serve as Json).latency as Json | undefined)?.p50Ms as number | null,
  },
  { title: 'model.onnx (MiB)', value: (f) => num(f.serve, 'modelMiB') },
];

export async function plotScale(points: ScalePoint[], pngPath: string): Promise<void> {
  const cols = 3,
    w = 1200,
    h = 680;
  const chart = chartOf(w, h);
  const cell = (i: number) => ({
    left: `${4 + (i % cols) * 33}%`,
    top: `${12 + Math.floor(i / cols) * 45}%`,
    width: '26%',
    height: '30%',
  });
  const series = (form: 'before' | 'after', i: number) => ({
    name: form === 'after' ? 'catalog chunks (after)' : 'whole catalog (before)',
    type: 'line',
    xAxisIndex: i,
    yAxisIndex: i,
    lineStyle: form === 'before' ? { type: 'dashed' } : {},
    data: points.flatMap((p) => {
      const v = p[form] ? PANELS[i].value(p[form]!) : null;
      return v === null || !Number.isFinite(v) ? [] : [[p.items, v]];
    }),
  });
  chart.setOption({
    animation: false,
    backgroundColor: '#ffffff',
    legend: { top: 8 },
    title: PANELS.map((p, i) => ({
      text: p.title,
      left: cell(i).left,
      top: `${7 + Math.floor(i / cols) * 45}%`,
      textStyle: { fontSize: 13 },
    })),
    grid: PANELS.map((_, i) => cell(i)),
    xAxis: PANELS.map((_, i) => ({ type: 'log', gridIndex: i, name: 'items', nameLocation: 'middle', nameGap: 24 })),
    yAxis: PANELS.map((_, i) => ({ type: 'value', gridIndex: i, scale: false })),
    series: PANELS.flatMap((_, i) => [series('after', i), series('before', i)]),
  });
  writePng(chart, pngPath);
}
