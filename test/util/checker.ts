import { spawnSync } from 'node:child_process';
import * as assert from 'uvu/assert';

const script = new URL('../../../scripts/check_onnx.py', import.meta.url).pathname;

/** Runs Debian's onnx.checker (full_check) over the files; fails the test if python3-onnx is missing. */
export function checkModels(files: string[]): void {
  const r = spawnSync('/usr/bin/python3', [script, ...files], { encoding: 'utf8' });
  assert.is(r.status, 0, `onnx.checker failed:\n${r.stdout}\n${r.stderr}`);
}
