import { readFileSync } from 'node:fs';
import { onnx } from '../graph/onnx-proto.js';

/**
 * The model with the defaults of `names` removed, so those inputs become ordinary required inputs.
 * onnxruntime-node, onnxruntime-web and Triton's onnxruntime backend list only non-initializer inputs
 * and refuse (or silently drop) a feed for an input that has a default; Python, C, C++, C# and Java
 * ORT override it as ONNX intends.
 */
export function requireInputs(model: string | Uint8Array, names: string[]): Uint8Array {
  const bytes = typeof model === 'string' ? readFileSync(model) : model;
  const m = onnx.ModelProto.decode(bytes);
  const g = m.graph!,
    inputs = g.input ?? [],
    inits = g.initializer ?? [];
  for (const n of names) {
    if (!inputs.some((i) => i.name === n)) throw new Error(`the model has no input ${n}`);
    if (!inits.some((t) => t.name === n)) throw new Error(`input ${n} of the model has no default`);
  }
  g.initializer = inits.filter((t) => !names.includes(t.name!));
  return onnx.ModelProto.encode(m).finish();
}
