import type { onnx as P } from 'onnx-proto';
import { onnx } from '../graph/onnx-proto.js';
import { type KernelRow, type KernelSignature, cudaKernelTable } from './cuda-kernels.js';
import { outputTypes, tensorType } from './cuda-types.js';

/** A node checked against the CUDA kernel table. */
export interface CheckedNode {
  node: string;
  op: string;
  opset: number;
  /** "name: tensor(type)" per present input, named after the op's parameters. */
  inputs: string[];
  /** Where it was built: the graph builder's scope (the node name up to its last "/"), and the subgraph path. */
  scope: string;
  graph: string;
  /** Why the table has no kernel for it. */
  why: string;
}

export interface GraphCoverage {
  graph: string;
  /** Nodes that need a kernel (Constant nodes excluded, counted in `constants`). */
  nodes: number;
  constants: number;
  /** Nodes with a CUDA kernel for their opset and types. */
  covered: number;
  /** Nodes without one that the allow list accepts (each with its reason). */
  allowed: (CheckedNode & { reason: string })[];
  failing: CheckedNode[];
}

/**
 * Inputs that CUDA kernels read from host memory (registered InputMemoryType OrtMemTypeCPUInput): shapes, axes,
 * counts and loop controls. A value that reaches nothing but these is a shape computation.
 */
export const CPU_INPUTS: Record<string, number[]> = {
  Reshape: [1],
  Expand: [1],
  ConstantOfShape: [0],
  Tile: [1],
  Slice: [1, 2, 3, 4],
  Squeeze: [1],
  Unsqueeze: [1],
  ReduceSum: [1],
  ReduceMean: [1],
  ReduceMax: [1],
  ReduceMin: [1],
  ReduceProd: [1],
  ReduceSumSquare: [1],
  ReduceLogSumExp: [1],
  ReduceL1: [1],
  ReduceL2: [1],
  TopK: [1],
  Range: [0, 1, 2],
  OneHot: [1],
  CumSum: [1],
  Split: [1],
  Pad: [1, 3],
  Trilu: [1],
  Dropout: [1, 2],
  Loop: [0, 1],
  If: [0],
  Resize: [1, 2, 3],
};

/**
 * Ops the CUDA EP may lack a kernel for that are still fine when they compute shapes only: ORT's
 * GetCpuPreferredNodes (fallback_cpu_capability.cc) places such nodes on the CPU on purpose, because their
 * results are read on the host anyway. Each entry applies only to a node whose outputs reach nothing but the
 * CPU inputs above (through other allowed nodes); anywhere else the same op fails.
 */
export const SHAPE_ALLOW: Record<string, string> = {};

type Where = { graph: string; opset: (domain: string) => number };

/** Ops whose last input (output) parameter is variadic: the table does not mark them. */
const VARIADIC_IN = new Set(['Concat', 'Max', 'Min', 'Sum', 'Mean', 'Loop', 'Scan', 'SequenceConstruct']);
const VARIADIC_OUT = new Set(['Split', 'Loop', 'Scan', 'If']);

const sigFits = (sig: KernelSignature, row: KernelRow, ins: (string | null)[], outs: string[]) => {
  const fits = (params: KernelSignature['inputs'], types: (string | null)[], variadic: boolean) =>
    types.every((t, i) => {
      if (t === null) return true;
      const p = params[variadic ? Math.min(i, params.length - 1) : i];
      if (!p) return false;
      if (p.type.startsWith('tensor(') || p.type.startsWith('seq(')) return p.type === t;
      const allowed = row.types[p.type];
      return allowed === undefined || allowed.includes(t);
    });
  return fits(sig.inputs, ins, VARIADIC_IN.has(row.op)) && fits(sig.outputs, outs, VARIADIC_OUT.has(row.op));
};

/** Null when the table has a kernel for this node; else why not. */
export function kernelProblem(
  op: string,
  domain: string,
  opset: number,
  ins: (string | null)[],
  outs: string[],
  table = cudaKernelTable(),
): string | null {
  const rows = table.filter((r) => r.op === op && r.domain === domain);
  if (rows.length === 0) return `the CUDA EP has no ${op} kernel at all`;
  const inRange = rows.filter((r) => r.since <= opset && (r.until === null || opset <= r.until));
  const range = (r: KernelRow) => `${r.since}${r.until === null ? '+' : r.until === r.since ? '' : `-${r.until}`}`;
  if (inRange.length === 0) return `no CUDA ${op} kernel for opset ${opset} (it has ${rows.map(range).join(', ')})`;
  if (inRange.some((r) => r.signatures.some((s) => sigFits(s, r, ins, outs)))) return null;
  const r = inRange[0];
  const types = Object.entries(r.types)
    .map(([k, v]) => `${k}: ${v.join(' ')}`)
    .join('; ');
  return `no CUDA ${op}-${r.since} kernel for these types (${types})`;
}

interface Found {
  node: P.INodeProto;
  checked: CheckedNode;
  ok: boolean;
}
type Walked = Found[] & { constants: number };

/** Walks a graph and its subgraphs (Loop bodies) in order, typing every value from what precedes it. */
function walk(g: P.IGraphProto, outer: Map<string, string>, where: Where, table: KernelRow[], found: Walked): void {
  const types = new Map(outer);
  for (const v of [...(g.input ?? []), ...(g.output ?? [])]) {
    if (v.type?.tensorType?.elemType)
      types.set(v.name!, tensorType(v.type.tensorType.elemType, `${where.graph}: ${v.name}`));
  }
  for (const t of g.initializer ?? [])
    types.set(t.name!, tensorType(t.dataType, `${where.graph}: initializer ${t.name}`));
  for (const n of g.node ?? []) {
    const name = n.name || n.output?.[0] || '?';
    const typeOf = (i: number): string => {
      const v = n.input?.[i];
      const t = v ? types.get(v) : undefined;
      if (!t)
        throw new Error(`${where.graph}: node ${name} (${n.opType}) reads ${v || `input ${i}`}, whose type is unknown`);
      return t;
    };
    const ins = (n.input ?? []).map((v, i) => (v ? typeOf(i) : null));
    const outs = outputTypes(n, typeOf, `${where.graph}: node ${name}`);
    (n.output ?? []).forEach((v, i) => {
      if (v) types.set(v, outs[i]);
    });
    // ORT turns Constant nodes into initializers when it loads a graph: they never reach an execution provider.
    if (n.opType === 'Constant' && !n.domain) {
      found.constants += 1;
      continue;
    }
    const domain = n.domain || 'ai.onnx';
    const opset = where.opset(n.domain ?? '');
    const why = kernelProblem(n.opType!, domain, opset, ins, outs, table);
    const sig = table.find((r) => r.op === n.opType && r.domain === domain)?.signatures[0];
    const param = (i: number) => sig?.inputs[Math.min(i, sig.inputs.length - 1)]?.name ?? `#${i}`;
    const labels = ins.flatMap((t, i) => (t === null ? [] : [`${param(i)}: ${t}`]));
    const scope = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '(top level)';
    const checked = { node: name, op: n.opType!, opset, inputs: labels, scope, graph: where.graph, why: why ?? '' };
    found.push({ node: n, ok: why === null, checked });
    for (const a of n.attribute ?? []) {
      if (a.g) walk(a.g, types, { ...where, graph: `${where.graph} > ${name}.${a.name}` }, table, found);
    }
  }
}

/** Failing nodes of an allowed op whose outputs reach only CPU inputs, directly or through other such nodes. */
function shapeOnly(found: Found[], allow: Record<string, string>): Set<Found> {
  const cand = new Set(found.filter((f) => !f.ok && allow[f.checked.op] !== undefined));
  const uses = new Map<string, { f: Found; i: number }[]>();
  for (const f of found)
    (f.node.input ?? []).forEach((v, i) => {
      if (v) uses.set(v, [...(uses.get(v) ?? []), { f, i }]);
    });
  for (let changed = true; changed;) {
    changed = false;
    for (const c of cand) {
      const ok = (c.node.output ?? []).every(
        (v) =>
          (uses.get(v) ?? []).length > 0 &&
          uses.get(v)!.every((u) => cand.has(u.f) || (CPU_INPUTS[u.f.checked.op] ?? []).includes(u.i)),
      );
      if (!ok) {
        cand.delete(c);
        changed = true;
      }
    }
  }
  return cand;
}

/** Checks every node of a model (and of its Loop bodies) against the CUDA kernel table. */
export function cudaCoverage(
  name: string,
  model: Uint8Array | P.IModelProto,
  table = cudaKernelTable(),
  allow = SHAPE_ALLOW,
): GraphCoverage {
  const m = model instanceof Uint8Array ? onnx.ModelProto.decode(model) : model;
  const opsets = new Map((m.opsetImport ?? []).map((o) => [o.domain || '', Number(o.version)]));
  const opset = (domain: string) => {
    const v = opsets.get(domain);
    if (v === undefined) throw new Error(`${name}: no opset imported for domain "${domain}"`);
    return v;
  };
  const found: Walked = Object.assign([] as Found[], { constants: 0 });
  walk(m.graph!, new Map(), { graph: name, opset }, table, found);
  const allowedSet = shapeOnly(found, allow);
  return {
    graph: name,
    nodes: found.length,
    constants: found.constants,
    covered: found.filter((f) => f.ok).length,
    allowed: found.filter((f) => allowedSet.has(f)).map((f) => ({ ...f.checked, reason: allow[f.checked.op] })),
    failing: found.filter((f) => !f.ok && !allowedSet.has(f)).map((f) => f.checked),
  };
}

/** One line per failing node: what the suite and doctor print. */
export const describeFailure = (f: CheckedNode) =>
  `${f.graph}: node ${f.node} (${f.op}, opset ${f.opset}; ${f.inputs.join(', ') || 'no inputs'}) built in scope ${f.scope}: ${f.why}`;
