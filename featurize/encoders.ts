// BERT-family text and ViT-family image encoders through @huggingface/transformers (sharing the
// project's onnxruntime-node); each returns the [CLS] row (position 0) of last_hidden_state per input.
import { availableParallelism } from 'node:os';
import type { ModelSource } from './model-source.js';

export type Ep = 'cpu' | 'cuda';
/** standard: [CLS] text [SEP] from the tokenizer; reference: "[CLS] " + text without special tokens (the HM4SR code). */
export type TextForm = 'standard' | 'reference';

export interface EncoderOptions {
  source: ModelSource;
  /** Cache of downloaded / pre-placed Hub models. */
  modelsDir: string;
  ep: Ep;
  threads?: number;
}

type Transformers = typeof import('@huggingface/transformers');

/** Loaded on first use: the library takes ~1 s to import and only featurize needs it. */
async function transformers(o: EncoderOptions): Promise<Transformers> {
  const t = await import('@huggingface/transformers');
  t.env.allowLocalModels = true;
  t.env.allowRemoteModels = o.source.download;
  t.env.localModelPath = o.modelsDir;
  t.env.cacheDir = o.modelsDir;
  return t;
}

function loadOptions(o: EncoderOptions) {
  return {
    local_files_only: !o.source.download,
    dtype: 'fp32' as const,
    device: o.ep,
    session_options: { intraOpNumThreads: o.threads ?? availableParallelism(), logSeverityLevel: 3 as const },
  };
}

async function loadModel(t: Transformers, o: EncoderOptions) {
  try {
    return await t.AutoModel.from_pretrained(o.source.id, loadOptions(o));
  } catch (e) {
    const msg = (e as Error).message;
    if (o.ep === 'cuda') {
      throw new Error(
        `could not start ${o.source.id} on the CUDA execution provider: ${msg}\n` +
          'It needs the CUDA provider libraries next to onnxruntime-node, an NVIDIA GPU, and CUDA 13 + cuDNN 9 on ' +
          'LD_LIBRARY_PATH: `hm4sr setup-cuda` installs and checks them, `hm4sr doctor` shows what is found (README, "GPU").',
      );
    }
    throw new Error(`could not load the model ${o.source.id} (from ${o.source.dir}): ${msg}`);
  }
}

/** Copies the [CLS] row of each batch element out of last_hidden_state [B, T, H]. */
function clsRows(output: Record<string, unknown>, batch: number, dim: number, what: string): Float32Array {
  const h = output.last_hidden_state as { dims: number[]; data: Float32Array } | undefined;
  if (!h)
    throw new Error(`${what}: the model has no last_hidden_state output (outputs: ${Object.keys(output).join(', ')})`);
  const [b, t, d] = h.dims;
  if (b !== batch || d !== dim)
    throw new Error(`${what}: last_hidden_state is [${h.dims}], expected [${batch}, T, ${dim}]`);
  const out = new Float32Array(batch * dim);
  for (let i = 0; i < batch; i++) out.set(h.data.subarray(i * t * d, i * t * d + d), i * dim);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]))
      throw new Error(`${what}: the model produced ${out[i]} for batch element ${Math.floor(i / dim)}`);
  }
  return out;
}

export interface TextEncoder {
  dim: number;
  maxLength: number;
  /** [CLS] rows for non-empty texts. */
  encode(texts: string[]): Promise<Float32Array>;
  /** Token ids the model would see (for tests and reports). */
  tokenize(texts: string[]): { ids: bigint[][] };
  dispose(): Promise<void>;
}

export async function loadTextEncoder(o: EncoderOptions & { form: TextForm }): Promise<TextEncoder> {
  const t = await transformers(o);
  let tokenizer;
  try {
    tokenizer = await t.AutoTokenizer.from_pretrained(o.source.id, { local_files_only: !o.source.download });
  } catch (e) {
    throw new Error(`could not load the tokenizer of ${o.source.id} (from ${o.source.dir}): ${(e as Error).message}`);
  }
  const model = await loadModel(t, o);
  const config = model.config as unknown as { hidden_size?: number; max_position_embeddings?: number };
  if (!config.hidden_size) throw new Error(`${o.source.dir}/config.json: no hidden_size`);
  const dim = config.hidden_size;
  // Titles longer than the model's positions are truncated, never an error.
  const maxLength = Math.min(tokenizer.model_max_length ?? Infinity, config.max_position_embeddings ?? 512, 512);
  const run = (texts: string[]) =>
    o.form === 'reference'
      ? tokenizer(
          texts.map((s) => `[CLS] ${s}`),
          { add_special_tokens: false, padding: true, truncation: true, max_length: maxLength },
        )
      : tokenizer(texts, { padding: true, truncation: true, max_length: maxLength });
  return {
    dim,
    maxLength,
    async encode(texts) {
      if (texts.length === 0) return new Float32Array(0);
      const out = await model(run(texts));
      return clsRows(out, texts.length, dim, o.source.id);
    },
    tokenize(texts) {
      return { ids: (run(texts).input_ids as { tolist(): bigint[][] }).tolist() };
    },
    async dispose() {
      await model.dispose();
    },
  };
}

export interface ImageEncoder {
  dim: number;
  /** Reads each file; unreadable ones come back in `failed` (index -> reason) and get no row. */
  encode(paths: string[]): Promise<{ rows: Float32Array; ok: number[]; failed: Map<number, string> }>;
  dispose(): Promise<void>;
}

export async function loadImageEncoder(o: EncoderOptions): Promise<ImageEncoder> {
  const t = await transformers(o);
  let processor;
  try {
    processor = await t.AutoProcessor.from_pretrained(o.source.id, { local_files_only: !o.source.download });
  } catch (e) {
    throw new Error(
      `could not load the image processor of ${o.source.id} (from ${o.source.dir}): ${(e as Error).message}`,
    );
  }
  const model = await loadModel(t, o);
  const config = model.config as unknown as { hidden_size?: number };
  if (!config.hidden_size) throw new Error(`${o.source.dir}/config.json: no hidden_size`);
  const dim = config.hidden_size;
  return {
    dim,
    async encode(paths) {
      const failed = new Map<number, string>();
      const images: InstanceType<Transformers['RawImage']>[] = [];
      const ok: number[] = [];
      for (let i = 0; i < paths.length; i++) {
        try {
          const img = await t.RawImage.read(paths[i]);
          if (img.width < 1 || img.height < 1) throw new Error(`empty image ${img.width}x${img.height}`);
          images.push(img.rgb());
          ok.push(i);
        } catch (e) {
          failed.set(i, `unreadable: ${(e as Error).message.split('\n')[0]}`);
        }
      }
      if (images.length === 0) return { rows: new Float32Array(0), ok, failed };
      const inputs = await processor(images);
      const out = await model({ pixel_values: inputs.pixel_values });
      return { rows: clsRows(out, images.length, dim, o.source.id), ok, failed };
    },
    async dispose() {
      await model.dispose();
    },
  };
}
