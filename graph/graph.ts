import { type DType, type Dim, type Shape, type TypedData, shapeStr } from './types.js';

export interface ConstTensor {
  dtype: DType;
  dims: number[];
  data: TypedData;
}

export type Attr =
  | { t: 'int'; v: number }
  | { t: 'float'; v: number }
  | { t: 'ints'; v: number[] }
  | { t: 'floats'; v: number[] }
  | { t: 'string'; v: string }
  | { t: 'tensor'; v: ConstTensor }
  | { t: 'graph'; v: Graph };

export const attr = {
  int: (v: number): Attr => ({ t: 'int', v }),
  float: (v: number): Attr => ({ t: 'float', v }),
  ints: (v: number[]): Attr => ({ t: 'ints', v }),
  floats: (v: number[]): Attr => ({ t: 'floats', v }),
  string: (v: string): Attr => ({ t: 'string', v }),
  tensor: (v: ConstTensor): Attr => ({ t: 'tensor', v }),
  graph: (v: Graph): Attr => ({ t: 'graph', v }),
};

export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'normal'; std: number; mean?: number }
  | { kind: 'uniform'; a: number }
  | { kind: 'data'; data: Float32Array }
  /** Frozen data the caller must supply by name (feature tables, labels): no default exists. */
  | { kind: 'external'; what: string };

export interface ParamSpec {
  name: string;
  dims: number[];
  dtype: DType;
  init: Init;
  trainable: boolean;
}

export class GraphError extends Error {
  constructor(
    readonly op: string,
    readonly scope: string,
    message: string,
  ) {
    super(`${op}${scope ? ` in ${scope}` : ''}: ${message}`);
    this.name = 'GraphError';
  }
}

export class Value {
  producer: Node | null = null;
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape | null,
  ) {}
  get rank(): number {
    if (this.shape === null) throw new Error(`value ${this.name} has unknown rank`);
    return this.shape.length;
  }
  dim(i: number): Dim {
    const s = this.shape;
    if (s === null) return null;
    return s[i < 0 ? s.length + i : i] ?? null;
  }
  toString(): string {
    return `${this.name}: ${this.dtype}${shapeStr(this.shape)}`;
  }
}

export interface Node {
  op: string;
  domain: string;
  name: string;
  scope: string;
  inputs: (Value | null)[];
  outputs: Value[];
  attrs: Record<string, Attr>;
}

export interface OutSpec {
  dtype: DType;
  shape: Shape | null;
  name?: string;
}

/** Names are unique across a model and all its subgraphs (ONNX forbids shadowing), so a root and its
 * subgraphs share one namer. */
class Namer {
  private used = new Set<string>();
  private counts = new Map<string, number>();
  fresh(base: string): string {
    let n = this.counts.get(base) ?? 0;
    let name = `${base}_${n}`;
    while (this.used.has(name)) name = `${base}_${++n}`;
    this.counts.set(base, n + 1);
    this.used.add(name);
    return name;
  }
  claim(name: string): string {
    if (this.used.has(name)) throw new Error(`name ${name} is already used in this model`);
    this.used.add(name);
    return name;
  }
}

/** A random site reading host-fed draws: [...lead, ceil(last / per)] uniforms (graph/random.ts). */
export interface DrawSite {
  lead: (number | string)[];
  last: number | string;
  /** Entries of the site's tensor served by one draw (16 coins of a ratio-1/2 mask; 1 for other ratios). */
  per: number;
}

/** A graph's host-fed randomness: its sites read consecutive slices of one input (graph/random.ts). */
export interface FedDraws {
  readonly sites: DrawSite[];
  /** The draws of one step, [draws] float32; declared on first use. */
  readonly pool: () => Value;
  /** Where the next site's slice starts (int64 [1]); null before the first site. */
  offset: Value | null;
}

/**
 * An ONNX graph under construction. Ops append nodes (see ops/); parameters are declared by name
 * and placed at emission time, as graph inputs (training) or initializers (inference).
 */
export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly params = new Map<string, { spec: ParamSpec; value: Value }>();
  readonly depth: number;
  docString = '';
  /** Values the gradient treats as constants (op.stopGradient): no gradient flows through them. */
  readonly stopped = new Set<Value>();
  /** Index values whose entries are distinct (batch inputs declared distinct): see graph/lower/scatter-add.ts. */
  readonly distinct = new Set<Value>();
  /** Nodes grad() appended: the lowering pass's gradient rewrites apply to these only (graph/lower/). */
  readonly gradient = new Set<Node>();
  /** Loop bodies bind parameter names to their loop-carried inputs instead of declaring new ones. */
  paramBinding: Map<string, Value> | null = null;
  /**
   * When set, random sites read host-fed draws (graph/random.ts) instead of seeded random ops: the result is
   * then a function of the feeds alone, so one session serves every epoch and a resumed run replays them.
   */
  fedDraws: FedDraws | null = null;
  private readonly namer: Namer;
  private readonly seeds: { base: number; count: number };
  private scopes: string[] = [];
  private constCache = new Map<string, Value>();
  /** Where node() appends while capture() runs (shared by the graphs it spans), else null: this.nodes. */
  private sink: Node[] | null = null;

  constructor(
    readonly name: string,
    readonly parent: Graph | null = null,
    readonly prefix = '',
  ) {
    this.namer = parent ? parent.namer : new Namer();
    this.depth = parent ? parent.depth + 1 : 0;
    this.seeds = { base: 0, count: 0 };
  }

  /** Base of the per-site seeds of random ops (Dropout); set before building the forward. */
  set randomSeed(seed: number) {
    this.seeds.base = seed;
    this.seeds.count = 0;
  }

  /** A distinct, reproducible seed per random op site: sites are numbered in build order, so the same
   * forward built in a single-step graph and in a Loop body gets the same seeds. */
  nextSeed(): number {
    this.seeds.count += 1;
    return (Math.imul(this.seeds.base | 0, 1000003) + this.seeds.count * 7919) | 0;
  }

  /** Subgraph (Loop body) sharing this graph's namer; prefix keeps its input names distinct from the outer ones. */
  child(name: string, prefix: string): Graph {
    return new Graph(name, this, prefix);
  }

  /** A name no value or node of the model has: for a subgraph built again each time the graph is emitted. */
  freshName(base: string): string {
    return this.namer.fresh(base);
  }

  get scope(): string {
    return this.scopes.join('.');
  }

  /** Runs fn with a dotted scope pushed: parameters declared inside get `scope.name`. */
  withScope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  scoped(name: string): string {
    return this.scope ? `${this.scope}.${name}` : name;
  }

  fail(op: string, message: string): never {
    throw new GraphError(op, this.scope || this.name, message);
  }

  input(name: string, dtype: DType, shape: Shape): Value {
    const v = new Value(this, this.namer.claim(this.prefix + name), dtype, shape);
    this.inputs.push(v);
    return v;
  }

  /** Declares (or, when already declared with the same shape, returns) a named parameter. */
  param(
    name: string,
    dims: number[],
    init: Init,
    opts: { trainable?: boolean; dtype?: DType; absolute?: boolean } = {},
  ): Value {
    const full = opts.absolute ? name : this.scoped(name);
    if (this.paramBinding) {
      const bound = this.paramBinding.get(full);
      if (!bound) this.fail('param', `parameter ${full} is not bound in ${this.name}`);
      if (bound.shape && bound.shape.join() !== dims.join())
        this.fail('param', `parameter ${full} bound with shape ${shapeStr(bound.shape)}, declared ${shapeStr(dims)}`);
      return bound;
    }
    const found = this.params.get(full);
    if (found) {
      if (found.spec.dims.join() !== dims.join()) {
        this.fail(
          'param',
          `parameter ${full} redeclared with shape ${shapeStr(dims)} (was ${shapeStr(found.spec.dims)})`,
        );
      }
      return found.value;
    }
    if (init.kind === 'data' && init.data.length !== dims.reduce((a, b) => a * b, 1)) {
      this.fail('param', `parameter ${full}: ${init.data.length} values given for shape ${shapeStr(dims)}`);
    }
    const dtype = opts.dtype ?? 'float32';
    const value = new Value(this, this.namer.claim(this.prefix + full), dtype, dims);
    this.params.set(full, { spec: { name: full, dims, dtype, init, trainable: opts.trainable ?? true }, value });
    return value;
  }

  /** Marks v as a graph output under `name` (an Identity is added when v already has another name). */
  output(v: Value, name?: string): Value {
    let out = v;
    if (name !== undefined && v.name !== this.prefix + name) {
      [out] = this.node('Identity', [v], [{ dtype: v.dtype, shape: v.shape, name }]);
    }
    this.outputs.push(out);
    return out;
  }

  /** Appends a node. Output names are generated from the scope and op unless given. */
  node(op: string, inputs: (Value | null)[], outs: OutSpec[], attrs: Record<string, Attr> = {}, domain = ''): Value[] {
    const base = this.scope ? `${this.scope}/${op}` : op;
    const node: Node = {
      op,
      domain,
      name: this.namer.fresh(`${this.prefix}${base}`),
      scope: this.scope,
      inputs,
      outputs: [],
      attrs,
    };
    node.outputs = outs.map((o) => {
      const v = new Value(
        this,
        o.name !== undefined ? this.namer.claim(this.prefix + o.name) : this.namer.fresh(`${this.prefix}${base}.out`),
        o.dtype,
        o.shape,
      );
      v.producer = node;
      return v;
    });
    (this.sink ?? this.nodes).push(node);
    return node.outputs;
  }

  /**
   * Runs build and returns the nodes it made, in order, instead of appending them: the lowering pass places them
   * (graph/lower/pass.ts), and the graph is left as built but for the names its namer handed out. Nodes made on
   * values of enclosing graphs alone are taken too, as a Loop body may compute from outer values. Scalar
   * constants made meanwhile are not cached, since their nodes are not in the graph.
   */
  capture<T>(build: () => T): { result: T; nodes: Node[] } {
    const chain: Graph[] = [];
    for (let h: Graph | null = this; h; h = h.parent) chain.push(h);
    const saved = chain.map((h) => [h.sink, h.constCache] as const);
    const nodes: Node[] = [];
    for (const h of chain) {
      h.sink = nodes;
      h.constCache = new Map();
    }
    try {
      return { result: build(), nodes };
    } finally {
      chain.forEach((h, i) => ([h.sink, h.constCache] = saved[i]));
    }
  }

  /** A constant tensor (emitted as a Constant node); scalars are cached per graph. */
  constant(data: TypedData, dtype: DType, dims: number[]): Value {
    const key = dims.length === 0 ? `${dtype}:${String(data[0])}` : null;
    if (key) {
      const hit = this.constCache.get(key);
      if (hit) return hit;
    }
    const [v] = this.node('Constant', [], [{ dtype, shape: dims }], { value: attr.tensor({ dtype, dims, data }) });
    if (key) this.constCache.set(key, v);
    return v;
  }
}

/** The graph an op on these operands belongs to: the innermost one (a Loop body may read outer values). */
export function graphOf(op: string, vals: (Value | null | undefined)[]): Graph {
  let g: Graph | null = null;
  for (const v of vals) {
    if (!v) continue;
    if (!g || v.graph.depth > g.depth) g = v.graph;
  }
  if (!g) throw new GraphError(op, '', 'needs at least one Value operand');
  for (const v of vals) {
    if (!v) continue;
    let h: Graph | null = g;
    while (h && h !== v.graph) h = h.parent;
    if (!h)
      throw new GraphError(
        op,
        g.scope,
        `operand ${v.name} belongs to graph ${v.graph.name}, which does not enclose ${g.name}`,
      );
  }
  return g;
}
