import { type ChildProcess, spawn } from 'node:child_process';

const lockModule = new URL('../../runtime/output-lock.js', import.meta.url).href;

export interface Holder {
  pid: number;
  child: ChildProcess;
  kill9(): Promise<void>;
}

/**
 * Another process that takes a lock (lockDirectory(target) or lockFile(target)) as `command` and holds it
 * until killed: a writer that the test can stop with kill -9 at a known point.
 */
export async function lockHolder(kind: 'lockDirectory' | 'lockFile', target: string, command: string): Promise<Holder> {
  const code =
    `const m = await import(${JSON.stringify(lockModule)}); ` +
    `m.${kind}(${JSON.stringify(target)}, ${JSON.stringify(command)}, () => {}); ` +
    `process.stdout.write('locked\\n'); setInterval(() => {}, 1e6);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((res, rej) => {
    child.stdout!.on('data', (d) => String(d).includes('locked') && res());
    child.on('exit', (c) => rej(new Error(`the lock holder exited (${c}) before locking: ${err}`)));
  });
  // A holder left by a failed test must neither keep the suite running nor outlive it.
  const streams = [child.stdout, child.stderr] as unknown as { unref(): void; ref(): void }[];
  child.unref();
  streams.forEach((s) => s.unref());
  const orphan = () => child.kill('SIGKILL');
  process.on('exit', orphan);
  const kill9 = async () => {
    child.ref();
    streams.forEach((s) => s.ref());
    child.kill('SIGKILL');
    // The exit event (the child reaped) comes after the kill: only then is its pid gone.
    await exited;
    process.removeListener('exit', orphan);
  };
  return { pid: child.pid!, child, kill9 };
}
