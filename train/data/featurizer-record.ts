// The record of what made a feature table, written by featurize beside the table as
// NAME.text.featurizer.json / NAME.image.featurizer.json (featurize/featurizer-spec.ts has its full form).
// Training copies it into the run's model (model.onnx metadata hm4sr.featurizer.<modality>), so a shipped
// model can featurize items that arrive later exactly as its catalog was (`hm4sr add-items`).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';

export const FEATURIZER_FORMAT = 'hm4sr.featurizer/1';

/** The fields every record has; the rest belong to the featurizer (featurize/featurizer-spec.ts). */
export interface FeaturizerRecord {
  format: typeof FEATURIZER_FORMAT;
  kind: 'text' | 'image';
  /** 'tfidf', or the --text-model / --image-model given: a directory or a Hub id. */
  model: string;
  /** sha256 of the feature table file it wrote: a table rewritten by anything else no longer matches. */
  table: string;
}

export const featurizerRecordPath = (dir: string, name: string, kind: 'text' | 'image') =>
  join(dir, `${name}.${kind}.featurizer.json`);

export function hashFile(h: ReturnType<typeof createHash>, path: string): void {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 22);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
}

export function fileSha256(path: string): string {
  const h = createHash('sha256');
  hashFile(h, path);
  return h.digest('hex');
}

/**
 * The record of the table at `tablePath`, or why there is none: no record file, or a record of another
 * table (the table was rewritten by something other than featurize).
 */
export function readFeaturizerRecord(
  recordPath: string,
  tablePath: string,
): { record: FeaturizerRecord } | { record: null; why: string } {
  if (!existsSync(recordPath))
    return { record: null, why: `no ${recordPath} (the table was not written by hm4sr featurize)` };
  let record: FeaturizerRecord;
  try {
    record = JSON.parse(readFileSync(recordPath, 'utf8')) as FeaturizerRecord;
  } catch (e) {
    return { record: null, why: `${recordPath}: not JSON (${(e as Error).message})` };
  }
  if (record.format !== FEATURIZER_FORMAT)
    return { record: null, why: `${recordPath}: not a ${FEATURIZER_FORMAT} file` };
  if (!existsSync(tablePath) || record.table !== fileSha256(tablePath))
    return { record: null, why: `${recordPath} describes another table than ${tablePath} (rewritten since featurize)` };
  return { record };
}
