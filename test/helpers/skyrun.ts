/**
 * Test harness: a private SKYRUN_HOME with its own embedded Temporal dev server and worker on
 * free loopback ports, and the real `skyrun` CLI run as a child process against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { processAlive } from '../../activities/infra/runners/local';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(REPO, 'dist', 'client', 'cli.js');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class SkyrunEnv {
  readonly home: string;
  env: NodeJS.ProcessEnv = {};
  private connection?: Connection;

  private constructor(prefix: string) {
    this.home = mkdtempSync(path.join(os.tmpdir(), `skyrun-${prefix}-`));
  }

  static async create(prefix = 'test'): Promise<SkyrunEnv> {
    const e = new SkyrunEnv(prefix);
    const port = await freePort();
    let uiPort = await freePort();
    while (uiPort === port) uiPort = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_') && k !== 'TEMPORAL_CLI_PATH') delete env[k];
    e.env = {
      ...env,
      // never reach for cloud metadata servers (link-local addresses) from tests
      AWS_EC2_METADATA_DISABLED: 'true',
      METADATA_SERVER_DETECTION: 'none',
      SKYRUN_HOME: e.home,
      // a developer's ~/.sky/config.yaml never leaks into tests: SkyPilot's config is an empty file here
      SKYPILOT_CONFIG: path.join(e.home, 'sky-config.yaml'),
      SKYRUN_TEMPORAL_PORT: String(port),
      SKYRUN_UI_PORT: String(uiPort),
      // the user's ~/.ssh/config is never a test's to change
      SKYRUN_USER_SSH_CONFIG: path.join(e.home, 'user-ssh', 'config'),
    };
    writeFileSync(e.env.SKYPILOT_CONFIG!, '', { mode: 0o600 }); // a file in the home is private, as SkyRun's own are
    return e;
  }

  get address(): string {
    return `127.0.0.1:${this.env.SKYRUN_TEMPORAL_PORT}`;
  }

  /** Start `skyrun ARGS...`; the caller waits on it or signals it. */
  spawn(
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
  ): ChildProcess & { result: Promise<RunResult> } {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...this.env, ...opts.env },
      cwd: opts.cwd ?? REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    }) as ChildProcess & { result: Promise<RunResult> };
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.result = new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    return child;
  }

  run(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
    return this.spawn(args, opts).result;
  }

  workerPid(): number | undefined {
    try {
      return (JSON.parse(readFileSync(path.join(this.home, 'worker.json'), 'utf8')) as { pid: number }).pid;
    } catch {
      return undefined;
    }
  }

  /** SIGKILL the background worker and wait until it is gone; returns its pid. */
  async killWorker(): Promise<number> {
    const pid = this.workerPid()!;
    await killAndWait(pid);
    return pid;
  }

  /** SIGKILL the dev server and wait until it is gone; returns its pid. */
  async killServer(): Promise<number> {
    const { pid } = JSON.parse(readFileSync(path.join(this.home, 'server', 'server.json'), 'utf8')) as { pid: number };
    await killAndWait(pid);
    return pid;
  }

  /** A real Temporal client on this env's server (closed by dispose). */
  async temporalClient(): Promise<Client> {
    this.connection ??= await Connection.connect({ address: this.address });
    return new Client({ connection: this.connection });
  }

  async dispose(): Promise<void> {
    await this.connection?.close();
    await this.run(['server', 'stop']);
    rmSync(this.home, { recursive: true, force: true });
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGKILL a process and wait until it is gone (a zombie counts as gone). */
export async function killAndWait(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  await eventually(() => !processAlive(pid));
}

/** Poll until `fn` returns a truthy value (bounded: this is a wait, not a timing assertion). */
export async function eventually<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(100);
  }
}
