// The CUDA session policy, with onnxruntime and the placement diagnosis replaced at their boundary: a
// refusal caused only by ORT's deliberate CPU shape nodes is accepted (and said), any other CPU node fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Placement } from '../runtime/cuda-errors.js';
import { type SessionHooks, createSession, probeModel, type ort } from '../runtime/session.js';
import { rejects } from './util/rejects.js';

const REFUSAL =
  'This session contains graph nodes that are assigned to the default CPU EP, but fallback to CPU EP has been explicitly disabled by the user.';
const fakeSession = {} as ort.InferenceSession;

/** ORT that refuses strict sessions (when told to), records every creation, and a canned placement log. */
function hooks(placement: Placement | null, refuse = true) {
  const created: { strict: boolean }[] = [];
  let diagnosed = 0;
  const h: SessionHooks = {
    create: async (_m, so) => {
      const strict =
        (so.extra as { session?: Record<string, string> } | undefined)?.session?.disable_cpu_ep_fallback === '1';
      created.push({ strict });
      if (strict && refuse) throw new Error(REFUSAL);
      return fakeSession;
    },
    diagnose: () => {
      diagnosed += 1;
      return placement;
    },
  };
  return { h, created, diagnosed: () => diagnosed };
}

const shapeOnly: Placement = { cpu: ['Shape (shape_of_x)', 'Gather (dim_0)'], forced: ['shape_of_x', 'dim_0'] };
const real: Placement = { cpu: ['Shape (shape_of_x)', 'TopK (rank_top)'], forced: ['shape_of_x'] };

test("a model whose only CPU nodes are ORT's deliberate shape computations gets a session, said in the log, diagnosed once per graph", async () => {
  const { h, created, diagnosed } = hooks(shapeOnly);
  const lines: string[] = [];
  const model = probeModel();
  assert.is(await createSession(model, { ep: 'cuda', placementKey: 'g1', log: (l) => lines.push(l) }, h), fakeSession);
  assert.equal(created, [{ strict: true }, { strict: false }]);
  assert.match(
    lines.join('\n'),
    /ORT keeps 2 shape-computation nodes on the CPU by design \(Shape \(shape_of_x\), Gather \(dim_0\)\)/,
  );
  // The same graph again (another epoch): no second refusal, no second diagnosis.
  await createSession(model, { ep: 'cuda', placementKey: 'g1' }, h);
  assert.equal(created.slice(2), [{ strict: false }]);
  assert.is(diagnosed(), 1);
});

test('a node the CUDA EP cannot take is an error naming it, and no session is made', async () => {
  const { h, created } = hooks(real);
  await rejects(
    createSession(probeModel(), { ep: 'cuda', placementKey: 'g2' }, h),
    /CPU fallback is disabled on CUDA\. Nodes that would run on the CPU: TopK \(rank_top\)\. Pass --allow-cpu-nodes/,
  );
  assert.equal(created, [{ strict: true }]);
  const none = hooks(null);
  await rejects(
    createSession(probeModel(), { ep: 'cuda' }, none.h),
    /could not list them: the diagnostic session failed too/,
  );
});

test('--allow-cpu-nodes creates the session directly and lists every CPU node; strict sessions that fit start at once', async () => {
  const { h, created } = hooks(real);
  const lines: string[] = [];
  await createSession(probeModel(), { ep: 'cuda', strictDevice: false, log: (l) => lines.push(l) }, h);
  assert.equal(created, [{ strict: false }]);
  assert.match(lines[0], /--allow-cpu-nodes: on the CPU: Shape \(shape_of_x\), TopK \(rank_top\)/);
  const fits = hooks(null, false);
  await createSession(probeModel(), { ep: 'cuda' }, fits.h);
  assert.equal(fits.created, [{ strict: true }]);
  assert.is(fits.diagnosed(), 0);
  const cpu = hooks(null);
  await createSession(probeModel(), { ep: 'cpu' }, cpu.h);
  assert.equal(cpu.created, [{ strict: false }]);
});

test("CPU sessions leave onnxruntime's memory pattern off unless asked (packed batches change shape every step); CUDA keeps ORT's default", async () => {
  const seen: ort.InferenceSession.SessionOptions[] = [];
  const h: SessionHooks = {
    create: async (_m, so) => {
      seen.push(so);
      return fakeSession;
    },
    diagnose: () => null,
  };
  await createSession(probeModel(), { ep: 'cpu' }, h);
  await createSession(probeModel(), { ep: 'cpu', memoryPattern: true }, h);
  await createSession(probeModel(), { ep: 'cuda', strictDevice: false }, h);
  assert.equal(
    seen.map((so) => so.enableMemPattern),
    [false, true, undefined],
  );
});

test.run();
