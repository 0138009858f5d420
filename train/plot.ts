import { existsSync, readFileSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';
import * as echarts from 'echarts';
import { writeFileAtomic } from '../graph/atomic.js';
import type { EpochLog } from './run.js';

/**
 * Training curve from log.jsonl: training loss terms (left axis) and the validation metric (right axis).
 * `title` names the model and the run, so curves of different runs cannot be mistaken for each other.
 */
export async function writeCurve(logPath: string, pngPath: string, metric: string, title: string): Promise<void> {
  if (!existsSync(logPath)) return;
  const rows = readFileSync(logPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as EpochLog);
  if (rows.length === 0) return;
  const chart = chartOf(900, 480);
  const terms = Object.keys(rows[0].train).filter((k) => k.startsWith('loss'));
  chart.setOption({
    animation: false,
    backgroundColor: '#ffffff',
    title: { text: title, left: 'center', textStyle: { fontSize: 14 } },
    legend: { top: 28 },
    grid: { left: 60, right: 70, top: 70, bottom: 45 },
    xAxis: { type: 'value', name: 'epoch', nameLocation: 'middle', nameGap: 28, min: 1, max: Math.max(rows.length, 2) },
    yAxis: [
      { type: 'value', name: 'train loss', scale: true },
      { type: 'value', name: `valid ${metric}`, scale: true, position: 'right' },
    ],
    series: [
      ...terms.map((k) => ({
        name: k === 'loss' ? 'loss (total)' : k.slice(5),
        type: 'line',
        showSymbol: false,
        data: rows.map((r) => [r.epoch, r.train[k]]),
      })),
      {
        name: `valid ${metric}`,
        type: 'line',
        yAxisIndex: 1,
        lineStyle: { width: 3 },
        data: rows.map((r) => [r.epoch, r.valid[metric]]),
      },
    ],
  });
  writePng(chart, pngPath);
}

/** An empty server-side (SVG) chart of that size. */
export function chartOf(width: number, height: number): echarts.ECharts {
  return echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
}

/** The chart rendered to PNG (through SVG and resvg), written atomically; the chart is disposed. */
export function writePng(chart: echarts.ECharts, pngPath: string): void {
  const svg = chart.renderToSVGString();
  chart.dispose();
  const png = new Resvg(svg, { background: '#ffffff', font: { loadSystemFonts: true } }).render().asPng();
  writeFileAtomic(pngPath, png);
}
