/**
 * The embedded worker's supervisor: a small process that starts the background worker and
 * starts it again when it dies (crash, OOM kill, SIGKILL), so managed jobs recover and launches
 * go on with no CLI command running. A worker that dies before it is ready is retried with a
 * growing pause and, after `MAX_START_FAILURES` in a row, given up on with the reason in
 * `worker.log` (the next CLI command tries again and shows that log's tail).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { homePath } from '../../activities/infra/home';

export const MAX_START_FAILURES = 6;

/** ms to wait before the next start: short after a worker that was up, growing while it cannot start. */
export function restartDelay(wasReady: boolean, startFailures: number): number {
  if (wasReady) return 250;
  return Math.min(30_000, 1000 * 2 ** Math.max(0, startFailures - 1));
}

export const supervisorFile = () => homePath('worker-supervisor.json');

function note(m: string): void {
  appendFileSync(homePath('worker.log'), `[supervisor ${new Date().toISOString()}] ${m}\n`, { mode: 0o600 });
}

function readyPid(): number | undefined {
  try {
    const w = JSON.parse(readFileSync(homePath('worker.json'), 'utf8')) as { pid?: number; ready?: boolean };
    return w.ready ? w.pid : undefined;
  } catch {
    return undefined;
  }
}

function startWorker(): ChildProcess {
  const out = openSync(homePath('worker.log'), 'a', 0o600);
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'main.js'), '--background'], {
    stdio: ['ignore', out, out],
    env: process.env,
  });
  closeSync(out);
  return child;
}

async function supervise(): Promise<void> {
  let stopping = false;
  let child: ChildProcess | undefined;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      stopping = true;
      if (child && child.exitCode === null && child.signalCode === null) return void child.kill('SIGTERM');
      rmSync(supervisorFile(), { force: true }); // between two workers: nothing to wait for
      process.exit(0);
    });
  }
  writeFileSync(supervisorFile(), JSON.stringify({ pid: process.pid }), { mode: 0o600 });
  let startFailures = 0;
  while (!stopping) {
    const c = startWorker();
    child = c;
    const how = await new Promise<string>((resolve) =>
      c.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`)),
    );
    if (stopping) break;
    const wasReady = readyPid() === c.pid;
    startFailures = wasReady ? 0 : startFailures + 1;
    if (startFailures >= MAX_START_FAILURES) {
      note(`the worker could not start ${startFailures} times in a row (last: ${how}); giving up`);
      break;
    }
    const delay = restartDelay(wasReady, startFailures);
    note(`the worker (pid ${c.pid}) ended with ${how}; starting it again in ${delay} ms`);
    await new Promise((r) => setTimeout(r, delay));
  }
  rmSync(supervisorFile(), { force: true });
}

if (require.main === module) {
  supervise().catch((e) => {
    note(`supervisor failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
