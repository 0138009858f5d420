// Every hm4sr command line the user docs show (README.md, docs/*.md) is parsed by the CLI's own parser in dry-run
// mode, so a renamed or removed command, flag or choice fails the suite naming the file and line. A command line
// in a sh block is an example and must parse whole; one in inline prose code (`hm4sr featurize --text-model
// tfidf`) is a mention, held to its command, flags and choices but not to the options it leaves out. Benchmark
// lines (`npm run bench -- ...`) are parsed as the `hm4sr bench ...` line scripts/bench.mjs runs.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildParser } from '../cli/parser.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DOCS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** A command line found in a doc: where it is, and its hm4sr arguments. */
interface DocCommand {
  where: string;
  args: string[];
  text: string;
  inline: boolean;
}

const PREFIX = /(?:^|[\s(;&|`])(npm run hm4sr --|node dist\/cli\/main\.js|npm run bench --|hm4sr)(?=\s|$)/g;

const MENTION = /^(hm4sr|npm run hm4sr --|node dist\/cli\/main\.js) /;

/** Splits shell words (quotes and backslashes as sh reads them) up to the end of the simple command. */
function shellWords(s: string): string[] {
  const words: string[] = [];
  let cur = '',
    has = false,
    i = 0;
  for (; i < s.length; i++) {
    const ch = s[i];
    if (ch === "'" || ch === '"') {
      const j = s.indexOf(ch, i + 1);
      if (j < 0) throw new Error(`unclosed ${ch} in: ${s}`);
      cur += s.slice(i + 1, j);
      i = j;
      has = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has) words.push(cur);
      cur = '';
      has = false;
    } else if (ch === '#' && !has) break;
    else if (';&|)><'.includes(ch)) break;
    else {
      cur += ch;
      has = true;
    }
  }
  if (has) words.push(cur);
  return words;
}

/** The command lines of one file: in ```sh / ```bash blocks (continuations joined) and in inline `hm4sr ...` code. */
function commandsOf(file: string): DocCommand[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const found: DocCommand[] = [];
  const scan = (text: string, line: number, inline: boolean) => {
    for (const m of text.matchAll(PREFIX)) {
      const start = m.index! + m[0].length;
      let args = shellWords(text.slice(start));
      // scripts/bench.mjs runs `npm run bench -- [NAME] ...` as `hm4sr bench NAME ...` (no name: `bench suite`).
      if (m[1] === 'npm run bench --')
        args = ['bench', ...(args.length > 0 && !args[0].startsWith('-') ? args : ['suite', ...args])];
      // Inline code may be a synopsis (`hm4sr train [--data DIR]`) or a bare name in prose: only whole examples count.
      if (inline && (args.length === 0 || /[[\]|<>]|\.\.\./.test(text))) continue;
      found.push({ where: `${file}:${line}`, args, text: `${m[1]} ${text.slice(start).trim()}`, inline });
    }
  };
  let fence: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*```(\w*)/.exec(lines[i]);
    if (open) {
      fence = fence === null ? open[1] : null;
      continue;
    }
    if (fence === null) {
      const spans = [...lines[i].matchAll(/`([^`]+)`/g)].map((m) => m[1]);
      for (const span of spans) if (MENTION.test(span)) scan(span, i + 1, true);
      continue;
    }
    if (!['sh', 'bash', 'shell'].includes(fence)) continue;
    let text = lines[i],
      at = i + 1;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i]}`;
    scan(text, at, false);
  }
  return found;
}

const commands = DOCS.flatMap(commandsOf);

/** The parser's complaints about a name: an unknown command or flag, a value outside a flag's choices. */
const WRONG_NAME = /Unknown argument|Unknown command|Invalid values|Did you mean/;

/** Parses a command line in dry-run mode (validation only, no handler runs): the argv it parsed to, or the parser's complaint. */
async function dryRun(args: string[]): Promise<{ argv?: Record<string, unknown>; error?: string }> {
  try {
    const argv = await buildParser({ dryRun: true }).parseAsync(args);
    // A line with no command stops at demandCommand; one that reaches no registered command has no name here.
    if ((argv._ as unknown[]).length === 0) return { error: 'no command' };
    return { argv: argv as Record<string, unknown> };
  } catch (e) {
    return { error: (e as Error).message ?? String(e) };
  }
}

/**
 * A mention parsed with placeholders for the demanded options it leaves out: yargs reports missing options
 * before unknown ones, which would otherwise hide a renamed flag behind the omission.
 */
async function dryRunMention(args: string[]): ReturnType<typeof dryRun> {
  let r = await dryRun(args);
  for (let i = 0; i < 3 && r.error; i++) {
    const missing = /^Missing required arguments?: (.*)$/.exec(r.error);
    if (!missing) break;
    args = [...args, ...missing[1].split(', ').flatMap((k) => [k.length === 1 ? `-${k}` : `--${k}`, 'X'])];
    r = await dryRun(args);
  }
  return r;
}

test('the docs show hm4sr command lines to check', () => {
  const examples = commands.filter((c) => !c.inline).length;
  assert.ok(examples >= 20, `only ${examples} example command lines found in ${DOCS.join(', ')}`);
});

test("every documented hm4sr command line parses with the CLI's own parser", async () => {
  const bad: string[] = [];
  for (const c of commands) {
    const r = c.inline ? await dryRunMention(c.args) : await dryRun(c.args);
    // A mention may fail a command's own checks (it leaves options out); a wrong name never passes.
    if (r.error && c.inline && !WRONG_NAME.test(r.error)) continue;
    if (r.error) bad.push(`${c.where}: ${c.text}\n    ${r.error.replace(/\n/g, ' ')}`);
  }
  assert.ok(bad.length === 0, `documented command lines the CLI rejects:\n  ${bad.join('\n  ')}`);
});

test('every hm4sr command has a documented example', async () => {
  const shown = new Set<string>();
  for (const c of commands.filter((x) => !x.inline)) {
    const r = await dryRun(c.args);
    if (r.argv) shown.add(String((r.argv._ as unknown[])[0]));
  }
  // yargs keeps its command list behind getInternalMethods(), which its types leave out.
  type Internal = { getInternalMethods(): { getCommandInstance(): { getCommands(): string[] } } };
  const parser = buildParser({ dryRun: true }) as unknown as Internal;
  const all = parser.getInternalMethods().getCommandInstance().getCommands();
  const missing = all.filter((name) => !shown.has(name));
  assert.equal(missing, [], `commands without an example in ${DOCS.join(', ')}: ${missing.join(', ')}`);
});

test('the dry run rejects what the CLI rejects, and names it', async () => {
  assert.match((await dryRun(['train', '--no-such-flag'])).error ?? '', /Unknown argument/);
  assert.match((await dryRun(['train', '--preset', 'bert4rec'])).error ?? '', /Choices/);
  assert.match((await dryRun(['evaluate'])).error ?? '', /run/);
  assert.match((await dryRun(['no-such-command'])).error ?? '', /Unknown argument/);
  assert.match((await dryRun(['recommend', '--model', 'm.onnx'])).error ?? '', /--items|--user/);
  assert.ok((await dryRun(['train', '--data', 'amazon-beauty', '--out', 'RUN'])).argv);
});

test('the extraction reads shell words, continuations and $(...) as sh does', () => {
  assert.equal(shellWords(`train --out "runs/a b" --lr 0.5  # note`), ['train', '--out', 'runs/a b', '--lr', '0.5']);
  assert.equal(shellWords(`setup-cuda)" && echo x`), ['setup-cuda']);
  assert.equal(shellWords(`score --model m.onnx > recs.txt`), ['score', '--model', 'm.onnx']);
});

test.run();
