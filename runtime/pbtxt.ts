/**
 * Protocol-buffer text format (what Triton's config.pbtxt is), checked against a protobufjs message type:
 * a writer, and a strict parser that refuses unknown fields, wrong value types, unknown enum names, a
 * singular field given twice and two members of one oneof. No maintained npm library parses text format
 * (protobufjs reads .proto files and the binary and JSON encodings only), hence these ~200 lines.
 * Covered: scalars, enums, nested messages (`{}` or `<>`), repeated fields (one entry per occurrence or a
 * `[...]` list), `#` comments, `,`/`;` separators. Not covered: maps, Any, extensions (an error names them).
 */
import protobuf from 'protobufjs';

export type TextValue = string | number | boolean | TextMessage | TextValue[];
export interface TextMessage {
  [field: string]: TextValue;
}

const INT = new Set([
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
]);
const FLOAT = new Set(['float', 'double']);

type Tok = { kind: 'id' | 'num' | 'str' | 'punct'; text: string; value?: string; line: number };

// Stays whole: a single-pass scanner with one branch per token kind, sharing one position and line counter.
function tokenize(src: string, file: string): Tok[] {
  const out: Tok[] = [];
  let i = 0,
    line = 1;
  const fail = (m: string): never => {
    throw new Error(`${file}:${line}: ${m}`);
  };
  while (i < src.length) {
    const c = src[i];
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if ('{}<>[]:,;'.includes(c)) {
      out.push({ kind: 'punct', text: c, line });
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1,
        v = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\n') fail('newline inside a string');
        if (src[j] === '\\') {
          const e = src[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };
          if (!(e in map)) fail(`unsupported escape \\${e}`);
          v += map[e];
          j += 2;
        } else v += src[j++];
      }
      if (j >= src.length) fail('unterminated string');
      out.push({ kind: 'str', text: src.slice(i, j + 1), value: v, line });
      i = j + 1;
      continue;
    }
    const m = /^[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?|inf(?:inity)?|nan)/i.exec(
      src.slice(i),
    );
    if (m && (/[-+\d.]/.test(c) || (/^(inf|nan)/i.test(m[0]) && !/[A-Za-z_]/.test(src[i + m[0].length] ?? '')))) {
      out.push({ kind: 'num', text: m[0], line });
      i += m[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(src.slice(i));
    if (id) {
      out.push({ kind: 'id', text: id[0], line });
      i += id[0].length;
      continue;
    }
    fail(`unexpected character ${JSON.stringify(c)}`);
  }
  return out;
}

/** A position in the token list; errors name the file and the line of the token at hand. */
class Cursor {
  p = 0;
  constructor(
    readonly toks: Tok[],
    readonly file: string,
  ) {}
  peek = () => this.toks[this.p];
  next = () => this.toks[this.p++];
  atEnd = () => this.p >= this.toks.length;
  fail = (m: string): never => {
    const line = (this.toks[this.p] ?? this.toks[this.toks.length - 1])?.line ?? 1;
    throw new Error(`${this.file}:${line}: ${m}`);
  };
  eat = (text: string) => {
    if (this.peek()?.text === text && this.peek().kind === 'punct') {
      this.p++;
      return true;
    }
    return false;
  };
}

/** One scalar value of field `f`: an enum name or number, a string, a bool, an integer or a float. */
function scalar(cur: Cursor, f: protobuf.Field, path: string): TextValue {
  const t = cur.next() ?? cur.fail(`${path}: value expected`);
  if (f.resolvedType instanceof protobuf.Enum) {
    if (t.kind === 'id' && t.text in f.resolvedType.values) return t.text;
    if (t.kind === 'num' && /^-?\d+$/.test(t.text) && Object.values(f.resolvedType.values).includes(Number(t.text)))
      return Number(t.text);
    return cur.fail(
      `${path}: ${t.text} is not a value of enum ${f.resolvedType.name} (${Object.keys(f.resolvedType.values).join(', ')})`,
    );
  }
  if (f.type === 'string' || f.type === 'bytes') {
    if (t.kind !== 'str') cur.fail(`${path}: a quoted string expected, got ${t.text}`);
    let v = t.value!;
    while (cur.peek()?.kind === 'str') v += cur.next().value!; // adjacent literals concatenate
    return v;
  }
  if (f.type === 'bool') {
    if (['true', 't', 'True', '1'].includes(t.text)) return true;
    if (['false', 'f', 'False', '0'].includes(t.text)) return false;
    return cur.fail(`${path}: true or false expected, got ${t.text}`);
  }
  if (INT.has(f.type)) {
    if (t.kind !== 'num' || !/^[-+]?(\d+|0[xX][0-9a-fA-F]+)$/.test(t.text))
      cur.fail(`${path}: an integer expected, got ${t.text}`);
    const v = Number(t.text);
    if (f.type.startsWith('uint') && v < 0) cur.fail(`${path}: ${f.type} cannot be negative (${t.text})`);
    return v;
  }
  if (FLOAT.has(f.type)) {
    if (t.kind !== 'num') cur.fail(`${path}: a number expected, got ${t.text}`);
    return Number(t.text.replace(/[fF]$/, ''));
  }
  return cur.fail(`${path}: field type ${f.type} is not supported by this parser`);
}

/** Parses `src` as a text-format `type` message; errors name the file, line and field. */
// Stays whole: value and message recurse into each other over one cursor.
export function parseTextFormat(src: string, type: protobuf.Type, file = '<text>'): TextMessage {
  const cur = new Cursor(tokenize(src, file), file);
  const { eat, fail } = cur;

  function value(f: protobuf.Field, path: string): TextValue {
    if (f.resolvedType instanceof protobuf.Type) {
      const close = eat('{') ? '}' : eat('<') ? '>' : fail(`${path}: { expected for message ${f.resolvedType.name}`);
      return message(f.resolvedType, close, path);
    }
    return scalar(cur, f, path);
  }

  function message(t: protobuf.Type, close: string | null, path: string): TextMessage {
    const out: TextMessage = {};
    const oneofSet = new Map<string, string>();
    for (;;) {
      if (close === null ? cur.atEnd() : eat(close)) return out;
      const name = cur.next();
      if (!name || name.kind !== 'id')
        fail(`${path || t.name}: field name expected${name ? `, got ${name.text}` : ' before the end'}`);
      if (name.text.startsWith('[')) fail('extensions and Any are not supported');
      const f = t.fields[name.text];
      const here = path ? `${path}.${name.text}` : name.text;
      if (!f) fail(`${here}: message ${t.fullName.replace(/^\./, '')} has no field ${name.text}`);
      if (f.map) fail(`${here}: map fields are not supported by this parser`);
      f.resolve();
      const isMsg = f.resolvedType instanceof protobuf.Type;
      if (!eat(':') && !isMsg) fail(`${here}: ':' expected`);
      const vals: TextValue[] = [];
      if (eat('[')) {
        if (!f.repeated) fail(`${here}: a list for a singular field`);
        if (!eat(']')) {
          do vals.push(value(f, here));
          while (eat(','));
          if (!eat(']')) fail(`${here}: ] expected`);
        }
      } else vals.push(value(f, here));
      if (f.repeated) out[f.name] = [...((out[f.name] as TextValue[] | undefined) ?? []), ...vals];
      else {
        if (f.name in out) fail(`${here}: singular field given twice`);
        out[f.name] = vals[0];
      }
      if (f.partOf) {
        const other = oneofSet.get(f.partOf.name);
        if (other && other !== f.name)
          fail(`${here}: ${other} and ${f.name} are both set, but they are one oneof (${f.partOf.name})`);
        oneofSet.set(f.partOf.name, f.name);
      }
      eat(',') || eat(';');
    }
  }

  type.root.resolveAll();
  return message(type, null, '');
}

/** Writes `msg` as text format, field order as given; enums by name, strings quoted. */
export function writeTextFormat(msg: TextMessage, type: protobuf.Type, indent = ''): string {
  type.root.resolveAll();
  const lines: string[] = [];
  for (const [name, v] of Object.entries(msg)) {
    const f = type.fields[name];
    if (!f) throw new Error(`message ${type.name} has no field ${name}`);
    const one = (x: TextValue): string => {
      if (f.resolvedType instanceof protobuf.Type)
        return `{\n${writeTextFormat(x as TextMessage, f.resolvedType, indent + '  ')}${indent}}`;
      if (typeof x === 'string' && !(f.resolvedType instanceof protobuf.Enum)) return JSON.stringify(x);
      return String(x);
    };
    if (Array.isArray(v)) {
      if (f.resolvedType instanceof protobuf.Type) for (const x of v) lines.push(`${indent}${name} ${one(x)}`);
      else lines.push(`${indent}${name}: [ ${v.map(one).join(', ')} ]`);
    } else lines.push(`${indent}${name}${f.resolvedType instanceof protobuf.Type ? ' ' : ': '}${one(v)}`);
  }
  return lines.map((l) => l + '\n').join('');
}
