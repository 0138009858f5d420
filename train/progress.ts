import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, info?: Record<string, string | number>): void;
  stop(): void;
}

/** Where progress goes: process.stderr, or a stand-in (tests). */
export interface ProgressStream {
  isTTY?: boolean;
  write(s: string): unknown;
}

/**
 * A progress bar with live loss and throughput on a terminal. Elsewhere (a log file, CI) a redrawn bar
 * would be a line per redraw: there each bar gives way to one line when it stops (one per epoch, one per
 * evaluation), with its count, last figures and time.
 */
export function progressBar(
  label: string,
  total: number,
  enabled: boolean,
  stream: ProgressStream = process.stderr,
): Progress {
  if (!enabled) return { update: () => {}, stop: () => {} };
  if (!stream.isTTY) return lineWhenDone(label, total, stream);
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} {bar} {percentage}% | {value}/{total} | {info}`,
      barsize: 24,
      hideCursor: true,
      stream: stream as NodeJS.WritableStream,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { info: '' });
  return {
    update(done, info = {}) {
      bar.update(done, { info: describe(info) });
    },
    stop() {
      bar.stop();
    },
  };
}

function lineWhenDone(label: string, total: number, stream: ProgressStream): Progress {
  const t0 = performance.now();
  let done = 0,
    last: Record<string, string | number> = {};
  return {
    update(d, info = {}) {
      done = d;
      last = info;
    },
    stop() {
      const info = describe(last);
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      stream.write(`${label}: ${done}/${total}${info ? ` | ${info}` : ''} | ${seconds} s\n`);
    },
  };
}

const describe = (info: Record<string, string | number>) =>
  Object.entries(info)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`)
    .join(' | ');

function fmt(x: number): string {
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(4);
}
