import type { Argv } from 'yargs';
import { formatInspection, inspectFile } from '../runtime/inspect.js';

export function registerInspect(cli: Argv): void {
  cli.command(
    'inspect <file>',
    'list every tensor of a checkpoint (.ckpt) or exported model (.onnx): shape, dtype, trains or frozen, min/max/mean/non-zeros',
    (y) =>
      y
        .positional('file', {
          type: 'string',
          demandOption: true,
          describe: 'last.ckpt, best.ckpt, an ORT training checkpoint or a model.onnx',
        })
        .option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' }),
    (a) => {
      const r = inspectFile(a.file as string);
      process.stdout.write(a.json ? `${JSON.stringify(r, null, 2)}\n` : formatInspection(r));
    },
  );
}
