// onnx-proto is CommonJS; Node's ESM loader cannot see its named export.
import pkg from 'onnx-proto';

export const onnx = pkg.onnx;
