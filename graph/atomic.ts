import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';

/** Writes via a temporary sibling and a rename, so readers never see a half-written file. */
export function writeFileAtomic(path: string, data: string | Uint8Array | Uint8Array[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    for (const chunk of Array.isArray(data) ? data : [data]) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let off = 0;
      // At most 1 GiB a call: write(2) takes at most 2 GiB - 1, and a feature table can be larger.
      while (off < bytes.byteLength) off += writeSync(fd, bytes, off, Math.min(bytes.byteLength - off, 1 << 30));
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
