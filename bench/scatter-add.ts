// hm4sr bench scatter-add [--reps N] [--threads N]
// Prints one JSON line: the embedding-gradient scatters of one default HM4SR step on Beauty (8,657 real
// tokens, 1,024 targets; catalog 12,102 x 192, ID table x 64, 50 positions, 2,800 interval buckets), as
// onnxruntime's ScatterND reduction=add (racy across threads) and as scatterAddRows (fixed order), run
// alternately in one process, with how many distinct results each form gave over the runs.
import { createHash } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { serialize } from '../graph/emit.js';
import { Graph } from '../graph/graph.js';
import * as op from '../graph/ops/index.js';
import { createSession, ort } from '../runtime/session.js';
import { bench } from './bench.js';

const sites: [rows: number, width: number, count: number][] = [
  [12102, 192, 8657],
  [12102, 192, 1024],
  [12102, 64, 1024],
  [50, 64, 8657],
  [2800, 64, 8657],
];

function model(form: 'racy' | 'fixed'): Uint8Array {
  const g = new Graph(`scatter_${form}`);
  sites.forEach(([rows, d, n], k) => {
    const idx = g.input(`idx${k}`, 'int64', [n]),
      upd = g.input(`upd${k}`, 'float32', [n, d]);
    const out =
      form === 'racy'
        ? op.scatterND(
            op.constantOfShape(op.int64s(g, [rows, d]), 'float32', 0, [rows, d]),
            op.unsqueeze(idx, [-1]),
            upd,
            'add',
          )
        : op.scatterAddRows(op.int64s(g, [rows]), idx, upd);
    g.output(out, `out${k}`);
  });
  return serialize(g, { params: 'inputs' });
}

export const scatterAddBench = bench({
  name: 'scatter-add',
  about:
    'the embedding-gradient scatters of a Beauty step: ScatterND reduction=add against scatterAddRows (one JSON line)',
  options: {
    reps: { type: 'number', default: 21, describe: 'runs of each form (the first warms up)' },
    threads: { type: 'number', default: 2, describe: 'onnxruntime intra-op threads' },
  },
  async run({ reps, threads }) {
    const forms = ['racy', 'fixed'] as const;
    const sessions = {
      racy: await createSession(model('racy'), { threads }),
      fixed: await createSession(model('fixed'), { threads }),
    };
    const feeds = skewedFeeds();
    const ms = { racy: [] as number[], fixed: [] as number[] },
      results = { racy: new Set<string>(), fixed: new Set<string>() };
    for (let r = 0; r < reps; r++) {
      for (const f of forms) {
        const t = performance.now();
        const out = await sessions[f].run(feeds);
        ms[f].push(performance.now() - t);
        const h = createHash('sha256');
        for (let k = 0; k < sites.length; k++) h.update(out[`out${k}`].data as Float32Array);
        results[f].add(h.digest('hex'));
      }
    }
    // The first run of each warms its session and is left out of the times.
    const stat = (a: number[]) => {
      const b = a.slice(1).sort((x, y) => x - y);
      return { min: +b[0].toFixed(1), median: +b[b.length >> 1].toFixed(1) };
    };
    process.stdout.write(
      JSON.stringify({
        bench: 'scatter-add',
        threads,
        reps,
        machine: { cpu: cpus()[0]?.model, cores: cpus().length },
        loadAverage1m: +loadavg()[0].toFixed(2),
        msRacyScatterND: stat(ms.racy),
        msFixedOrder: stat(ms.fixed),
        distinctResults: { racyScatterND: results.racy.size, fixedOrder: results.fixed.size },
      }) + '\n',
    );
  },
});

function skewedFeeds(): Record<string, ort.Tensor> {
  let s = 7;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const feeds: Record<string, ort.Tensor> = {};
  sites.forEach(([rows, d, n], k) => {
    // Skewed ids with many repeats, as popular items, early positions and short intervals are.
    feeds[`idx${k}`] = new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: n }, () => BigInt(Math.min(rows - 1, Math.floor(rows * rnd() ** 3)))),
      [n],
    );
    feeds[`upd${k}`] = new ort.Tensor(
      'float32',
      Float32Array.from({ length: n * d }, () => rnd() - 0.5),
      [n, d],
    );
  });
  return feeds;
}
