import type { Dim, Shape } from './types.js';

export type ShapeCheck = (msg: string) => never;

/** Result dim of broadcasting two dims; symbolic dims are assumed never to be 1 at run time. */
function broadcastDim(a: Dim, b: Dim, fail: ShapeCheck, ctx: () => string): Dim {
  if (a === 1) return b;
  if (b === 1) return a;
  if (a === null) return b;
  if (b === null) return a;
  if (a === b) return a;
  if (typeof a === 'number' && typeof b === 'number') fail(`cannot broadcast ${ctx()}`);
  // Two different symbols or a symbol against a size: equal at run time or the runtime fails; keep the size.
  return typeof a === 'number' ? a : b;
}

export function broadcast(shapes: (Shape | null)[], fail: ShapeCheck, show: () => string): Shape | null {
  if (shapes.some((s) => s === null)) return null;
  const ss = shapes as Shape[];
  const rank = Math.max(...ss.map((s) => s.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of ss) {
      const j = i - (rank - s.length);
      if (j >= 0) d = broadcastDim(d, s[j], fail, show);
    }
    out.push(d);
  }
  return out;
}

export function normAxis(axis: number, rank: number, fail: ShapeCheck): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) fail(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Dims known to differ (both static and unequal). */
export function dimClash(a: Dim, b: Dim): boolean {
  return typeof a === 'number' && typeof b === 'number' && a !== b;
}

function mulDims(ds: Dim[]): Dim {
  let n = 1;
  const syms: string[] = [];
  for (const d of ds) {
    if (d === null) return null;
    if (typeof d === 'number') n *= d;
    else syms.push(d);
  }
  if (syms.length === 0) return n;
  return n === 1 ? syms.join('*') : [String(n), ...syms].join('*');
}

/** Static target of Reshape with ONNX's 0 (copy) and -1 (infer) conventions; symbolic products stay symbolic. */
export function reshapeShape(inShape: Shape | null, target: number[], fail: ShapeCheck): Shape {
  const out: Dim[] = target.map((t, i) => {
    if (t === 0) {
      if (inShape === null) return null;
      if (i >= inShape.length)
        fail(`Reshape target ${JSON.stringify(target)} copies dim ${i} of a rank-${inShape.length} input`);
      return inShape[i];
    }
    return t === -1 ? -1 : t;
  });
  const inferAt = out.indexOf(-1);
  if (inferAt < 0) {
    checkCount(inShape, out, fail, target);
    return out;
  }
  if (inShape === null) {
    out[inferAt] = null;
    return out;
  }
  // Cancel the known target dims against the input's, statically and symbolically.
  const pool: Dim[] = [...inShape];
  let staticIn = 1;
  const symsIn: string[] = [];
  for (const d of pool) {
    if (d === null) {
      out[inferAt] = null;
      return out;
    }
    if (typeof d === 'number') staticIn *= d;
    else symsIn.push(d);
  }
  let staticOut = 1;
  for (let i = 0; i < out.length; i++) {
    if (i === inferAt) continue;
    const d = out[i];
    if (d === null) {
      out[inferAt] = null;
      return out;
    }
    if (typeof d === 'number') staticOut *= d;
    else {
      const k = symsIn.indexOf(d);
      if (k < 0) {
        out[inferAt] = null;
        return out;
      }
      symsIn.splice(k, 1);
    }
  }
  if (staticIn % staticOut !== 0) fail(`cannot reshape ${JSON.stringify(inShape)} to ${JSON.stringify(target)}`);
  out[inferAt] = mulDims([staticIn / staticOut, ...symsIn]);
  return out;
}

function checkCount(inShape: Shape | null, out: Dim[], fail: ShapeCheck, target: number[]): void {
  if (inShape === null) return;
  const a = mulDims(inShape),
    b = mulDims(out);
  if (typeof a === 'number' && typeof b === 'number' && a !== b) {
    fail(`cannot reshape ${JSON.stringify(inShape)} (${a} elements) to ${JSON.stringify(target)} (${b} elements)`);
  }
}
