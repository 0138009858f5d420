import type { DType, Shape, TensorSpec } from '../types.js';
import { type Hm4srConfig, usesCP, usesCalendar, usesInterval, usesPCL, usesTimes } from './hm4sr-config.js';

/** Which graph a batch feeds: training (targets, PCL mask, CP lists), evaluation (targets) or inference. */
export type BatchKind = 'train' | 'eval' | 'infer';

interface InputDecl {
  dtype: DType;
  shape: Shape;
  /** See TensorSpec.distinct. */
  distinct?: true;
  /** The graphs that read it. */
  kinds: readonly BatchKind[];
  /** The configurations whose graphs read it (default: all). */
  when?: (c: Hm4srConfig) => boolean;
}

const ALL: readonly BatchKind[] = ['train', 'eval', 'infer'];
const TARGETED: readonly BatchKind[] = ['train', 'eval'];
const RW = ['rows', 'width'];

/**
 * The HM4SR graphs' inputs over PACKED batches (R rows of width W, B samples): each row holds one or more
 * user histories back to back (segments 1, 2, ...; 0 = padding), so short histories do not pay for padding.
 * Positions restart per segment and attention never crosses a segment, which makes a packed batch compute
 * exactly what the padded one would (the special case of one segment per row).
 * This is the one declaration of each input's spec and of which graphs read it, in graph input order;
 * train/batch.ts says how each is filled from histories and stacked for the K-step Loop, in a table the
 * compiler checks against this one (graph/ cannot import train/, and the graphs need the specs).
 */
export const HM4SR_INPUTS = {
  items: { dtype: 'int64', shape: RW, kinds: ALL },
  /** Position within the history (restarting per segment). */
  positions: { dtype: 'int64', shape: RW, kinds: ALL },
  segments: { dtype: 'int64', shape: RW, kinds: ALL },
  /** Interval buckets. */
  buckets: { dtype: 'int64', shape: RW, kinds: ALL, when: usesInterval },
  /** Absolute time, or interval days for 'interval-cos'. */
  times: { dtype: 'float32', shape: RW, kinds: ALL, when: usesTimes },
  calendar: { dtype: 'int64', shape: RW, kinds: ALL, when: usesCalendar },
  /** Flat index row * W + col of each sample's last item. */
  last: { dtype: 'int64', shape: ['batch'], distinct: true, kinds: ALL },
  target: { dtype: 'int64', shape: ['batch'], kinds: TARGETED },
  /**
   * pick_*: each history's last position grouped by packed row, so the fast graph's last layer attends from
   * those alone (query rows Q = R + extra; see train/batch-layout.ts lastLayerQueries).
   */
  pick_more: { dtype: 'int64', shape: ['extra_queries'], kinds: TARGETED },
  pick_col: { dtype: 'int64', shape: ['queries', 'picks'], kinds: TARGETED },
  pick_slot: { dtype: 'int64', shape: ['batch'], distinct: true, kinds: TARGETED },
  /** 1 where PCL puts a time placeholder. */
  pcl_mask: { dtype: 'float32', shape: RW, kinds: ['train'], when: usesPCL },
  /** Each distinct item of the batch and how many tokens hold it: the category loss runs once per item. */
  cp_items: { dtype: 'int64', shape: ['distinct'], distinct: true, kinds: ['train'], when: usesCP },
  cp_counts: { dtype: 'float32', shape: ['distinct'], kinds: ['train'], when: usesCP },
} as const satisfies Record<string, InputDecl>;

export type Hm4srInput = keyof typeof HM4SR_INPUTS;

/** The declaration of a batch input by name; an unknown name is an error. */
export function inputDecl(name: string): InputDecl {
  if (!Object.hasOwn(HM4SR_INPUTS, name)) {
    throw new Error(`"${name}" is not an HM4SR batch input (${Object.keys(HM4SR_INPUTS).join(', ')})`);
  }
  return HM4SR_INPUTS[name as Hm4srInput];
}

/** The inputs the `kind` graph of configuration c reads, in graph input order. */
export function batchInputs(c: Hm4srConfig, kind: BatchKind): Hm4srInput[] {
  return (Object.keys(HM4SR_INPUTS) as Hm4srInput[]).filter((n) => {
    const d: InputDecl = HM4SR_INPUTS[n];
    return d.kinds.includes(kind) && (d.when?.(c) ?? true);
  });
}

export function batchSpec(c: Hm4srConfig, kind: BatchKind): TensorSpec[] {
  return batchInputs(c, kind).map((name) => {
    const d: InputDecl = HM4SR_INPUTS[name];
    return { name, dtype: d.dtype, shape: [...d.shape], ...(d.distinct ? { distinct: true } : {}) };
  });
}
