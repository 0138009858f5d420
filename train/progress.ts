import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, info?: Record<string, string | number>): void;
  stop(): void;
}

/**
 * A progress bar with live loss and throughput on a terminal; on a pipe (CI logs) cli-progress prints
 * a plain line every few seconds instead of redrawing.
 */
export function progressBar(label: string, total: number, enabled: boolean): Progress {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar({
    format: `${label} {bar} {percentage}% | {value}/{total} | {info}`,
    barsize: 24,
    hideCursor: true,
    noTTYOutput: true,
    notTTYSchedule: 10000,
    stream: process.stderr,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { info: '' });
  return {
    update(done, info = {}) {
      bar.update(done, { info: Object.entries(info).map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`).join(' | ') });
    },
    stop() { bar.stop(); },
  };
}

function fmt(x: number): string {
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(4);
}
