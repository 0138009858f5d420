import { join } from 'node:path';
import { writeFileAtomic } from '../../graph/atomic.js';
import { readInputText } from '../../graph/input-file.js';

/** CSV/TSV with user, item, timestamp columns -> RecBole atomic NAME.inter. */
export function importDelimited(
  src: string,
  outDir: string,
  name: string,
  cols: { user: string; item: string; time: string },
  delimiter: string,
): number {
  const text = readInputText(src);
  const lines = text.split(/\r?\n/);
  const header = lines[0].split(delimiter).map((h) => h.trim().replace(/^"|"$/g, ''));
  const at = (c: string) => {
    const i = header.indexOf(c);
    if (i < 0) throw new Error(`${src}:1: no column "${c}" (columns: ${header.join(', ')})`);
    return i;
  };
  const [u, it, t] = [at(cols.user), at(cols.item), at(cols.time)];
  const out: string[] = ['user_id:token\titem_id:token\ttimestamp:float'];
  for (let n = 1; n < lines.length; n++) {
    if (!lines[n].trim()) continue;
    const f = lines[n].split(delimiter).map((x) => x.trim().replace(/^"|"$/g, ''));
    if (f.length !== header.length) throw new Error(`${src}:${n + 1}: ${f.length} fields, header has ${header.length}`);
    let ts = Number(f[t]);
    if (!Number.isFinite(ts)) {
      const parsed = Date.parse(f[t]);
      if (Number.isNaN(parsed))
        throw new Error(`${src}:${n + 1}: timestamp "${f[t]}" is neither Unix seconds nor a date`);
      ts = Math.floor(parsed / 1000);
    }
    if (ts < 0) throw new Error(`${src}:${n + 1}: negative timestamp ${ts}`);
    if (!f[u] || !f[it] || /\s/.test(f[u] + f[it]))
      throw new Error(`${src}:${n + 1}: user and item ids must be non-empty tokens without whitespace`);
    out.push(`${f[u]}\t${f[it]}\t${ts}`);
  }
  if (out.length === 1) throw new Error(`${src}: no interactions`);
  writeFileAtomic(join(outDir, `${name}.inter`), out.join('\n') + '\n');
  return out.length - 1;
}
