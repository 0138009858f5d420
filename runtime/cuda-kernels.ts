import { readFileSync } from 'node:fs';

/**
 * ONNX Runtime's CUDA kernel table, as vendored in runtime/ort-kernels/ (the CUDAExecutionProvider section
 * of ORT's docs/OperatorKernels.md; SOURCE.md there says which commit and why it stands for 1.29.0).
 */
export const KERNEL_TABLE_FILE = new URL('../../runtime/ort-kernels/cuda-ai.onnx.md', import.meta.url);

/** One parameter of an op signature: its name and either a type-constraint name (T) or a literal type. */
export interface KernelParam {
  name: string;
  type: string;
}
export interface KernelSignature {
  inputs: KernelParam[];
  outputs: KernelParam[];
}

/** One registered kernel (a row of the table): op versions [since, until] and the types per constraint. */
export interface KernelRow {
  op: string;
  domain: string;
  since: number;
  /** null: open-ended ("13+"). */
  until: number | null;
  /** The op's signatures over its versions (the table lists them joined by "or"); shared by an op's rows. */
  signatures: KernelSignature[];
  /** Constraint name -> the ONNX types ("tensor(float)") the kernel is registered for. */
  types: Record<string, string[]>;
}

const strip = (s: string) => s.replace(/\*|<br\/?>/g, ' ').trim();

function parseVersion(cell: string, where: string): { since: number; until: number | null } {
  const c = cell.trim();
  let m = /^(\d+)\+$/.exec(c);
  if (m) return { since: +m[1], until: null };
  m = /^\[(\d+),\s*(\d+)\]$/.exec(c);
  if (m) return { since: +m[1], until: +m[2] };
  m = /^(\d+)$/.exec(c);
  if (m) return { since: +m[1], until: +m[1] };
  throw new Error(`${where}: cannot read the opset version "${cell}"`);
}

/** "*in* X:**T**<br> *out* Y:**T**" (alternatives joined by "<br><br>or<br><br>") -> signatures. */
function parseSignatures(cell: string, where: string): KernelSignature[] {
  return cell.split(/<br><br>or<br><br>/).map((alt) => {
    const sig: KernelSignature = { inputs: [], outputs: [] };
    for (const part of alt
      .split(/<br>/)
      .map((p) => p.trim())
      .filter(Boolean)) {
      const m = /^\*(in|out)\* ([\w.]+):\*\*(.+)\*\*$/.exec(part);
      if (!m) throw new Error(`${where}: cannot read the parameter "${part}"`);
      (m[1] === 'in' ? sig.inputs : sig.outputs).push({ name: m[2], type: m[3] });
    }
    return sig;
  });
}

/** "**T** = tensor(float), tensor(int64)<br/> **T1** = tensor(bool)" -> { T: [...], T1: [...] }. */
function parseTypes(cell: string, where: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const part of cell
    .split(/<br\/>/)
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^\*\*([\w.]+)\*\* = (.+)$/.exec(part);
    if (!m) throw new Error(`${where}: cannot read the type constraint "${part}"`);
    out[m[1]] = m[2].split(/,\s*(?![^()]*\))/).map((t) => t.trim());
  }
  return out;
}

/**
 * Reads the markdown table: a "**Operator Domain:** *d*" row opens a domain, a row with an op name starts an
 * op (its parameters cell applies to the rows below it), a row with empty op and parameter cells adds another
 * version range of the same op. Anything else between the header and the end is an error, not skipped.
 */
export function parseKernelTable(md: string, source = 'kernel table'): KernelRow[] {
  const rows: KernelRow[] = [];
  let domain: string | null = null;
  let current: { op: string; signatures: KernelSignature[] } | null = null;
  md.split('\n').forEach((line, i) => {
    const where = `${source}:${i + 1}`;
    if (!line.startsWith('|') || /^\|\s*\|?\s*$/.test(line) || /^\|-+\|/.test(line) || line.startsWith('| Op Name'))
      return;
    const d = /^\|\*\*Operator Domain:\*\* \*([\w.]+)\*\|/.exec(line);
    if (d) {
      domain = d[1];
      current = null;
      return;
    }
    const cells = line.split('|').slice(1, -1);
    if (cells.length !== 4) throw new Error(`${where}: expected 4 cells, found ${cells.length}`);
    if (domain === null) throw new Error(`${where}: a kernel row before any "Operator Domain" row`);
    const [op, params, version, types] = cells;
    if (op.trim()) current = { op: strip(op), signatures: parseSignatures(params, where) };
    else if (params.trim() || current === null)
      throw new Error(`${where}: a continuation row needs an op above it and no parameters`);
    rows.push({
      op: current.op,
      domain,
      ...parseVersion(version, where),
      signatures: current.signatures,
      types: parseTypes(types, where),
    });
  });
  if (rows.length === 0) throw new Error(`${source}: no kernel rows`);
  return rows;
}

let cached: KernelRow[] | null = null;

/** The vendored CUDA kernel table (parsed once). */
export function cudaKernelTable(): KernelRow[] {
  cached ??= parseKernelTable(readFileSync(KERNEL_TABLE_FILE, 'utf8'), KERNEL_TABLE_FILE.pathname);
  return cached;
}
