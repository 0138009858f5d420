// `--graph production|reference` of the training benchmarks: the production HM4SR (packed rows and its
// structural speed-ups) or the reference one (the paper read top to bottom, on padded rows).
import type { Hm4srConfig } from '../graph/models/hm4sr-config.js';
import { hm4srModel } from '../graph/models/hm4sr.js';
import { hm4srReferenceModel } from '../graph/models/hm4sr-reference.js';
import type { LossModel } from '../graph/model.js';
import type { HostTensor } from '../runtime/session.js';

/** The models --graph selects (the first is the default). */
export const MODEL_FORMS = ['production', 'reference'] as const;
export type ModelForm = (typeof MODEL_FORMS)[number];

export function parseModelForm(v: string | undefined, where: string): ModelForm {
  if (v === 'production' || v === 'reference') return v;
  throw new Error(`${where} ${v}: expected production or reference`);
}

export const trainingModel = (c: Hm4srConfig, form: ModelForm): LossModel =>
  form === 'production' ? hm4srModel(c) : hm4srReferenceModel(c);

/** The reference reads a padded batch's items, times, target and PCL mask, not the production's packing lists. */
export function modelFeeds(model: LossModel, feeds: Record<string, HostTensor>): Record<string, HostTensor> {
  return Object.fromEntries(model.batch.map((s) => [s.name, feeds[s.name]]));
}
