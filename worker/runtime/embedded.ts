/**
 * The embedded default: a local Temporal dev server (SQLite under SKYRUN_HOME/server, UI on
 * 8233) and a background worker, each started once and reused by every later command.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { homePath, privateHome } from '../../activities/infra/home';
import { processAlive } from '../../activities/infra/runners/local';
import { SEARCH_ATTRIBUTE_FLAGS } from '../../workflows/contract';
import { embeddedPorts } from './config';
import { supervisorFile } from './supervisor';
import { ensureTemporalCli } from './temporal-cli';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PidFile {
  pid: number;
  [k: string]: unknown;
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.setTimeout(1000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

/** A lock folder: serialises starts of the same thing by concurrent CLI calls. */
async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  privateHome();
  const lock = homePath(`${name}.lock`);
  for (let i = 0; ; i++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 120_000) rmSync(lock, { recursive: true, force: true });
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

// ---- server ------------------------------------------------------------------------------

export function serverDir(): string {
  return homePath('server');
}

export interface ServerStatus {
  running: boolean;
  pid?: number;
  address: string;
  /** undefined when the server runs without its UI (the default) */
  uiUrl?: string;
  dbFile: string;
}

export async function serverStatus(): Promise<ServerStatus> {
  const { port, uiPort } = embeddedPorts();
  const info = readJson<PidFile>(path.join(serverDir(), 'server.json'));
  const alive = !!info && processAlive(info.pid);
  return {
    running: alive && (await portOpen(port)),
    pid: alive ? info!.pid : undefined,
    address: `127.0.0.1:${port}`,
    uiUrl: alive && info!.ui ? `http://127.0.0.1:${uiPort}` : undefined,
    dbFile: path.join(serverDir(), 'temporal.db'),
  };
}

/**
 * Whether the embedded server runs its web UI: off unless asked for (`skyrun server start --ui`
 * or SKYRUN_UI=1). The UI's HTTP API reaches every workflow; on a shared machine any local user
 * could use it, so it is opened only on request.
 */
export function uiWanted(opts: { ui?: boolean } = {}): boolean {
  return opts.ui ?? process.env.SKYRUN_UI === '1';
}

/** Start the dev server unless it already runs; returns whether this call started it. */
export async function startServer(
  log: (m: string) => void,
  opts: { ui?: boolean } = {},
): Promise<{ started: boolean; status: ServerStatus }> {
  return withLock('server', async () => {
    let status = await serverStatus();
    if (status.running) return { started: false, status };
    const ui = uiWanted(opts);
    const { port, uiPort } = embeddedPorts();
    if (await portOpen(port)) {
      throw new Error(
        `port ${port} is taken by another process; set SKYRUN_TEMPORAL_PORT, or TEMPORAL_ADDRESS to use that server`,
      );
    }
    const bin = await ensureTemporalCli(log);
    mkdirSync(serverDir(), { recursive: true, mode: 0o700 });
    // the database holds job requests and failures: private, also when an older SkyRun made it
    chmodSync(serverDir(), 0o700);
    if (existsSync(status.dbFile)) chmodSync(status.dbFile, 0o600);
    const args = [
      'server',
      'start-dev',
      '--db-filename',
      status.dbFile,
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      // the UI itself listens on a port of its own; SKYRUN_UI_PORT is its Host-checking proxy
      ...(ui ? ['--ui-port', String(await freeLoopbackPort())] : ['--headless']),
      '--log-level',
      'warn',
      ...SEARCH_ATTRIBUTE_FLAGS.flatMap((sa) => ['--search-attribute', sa]),
      ...(process.env.SKYRUN_SERVER_ARGS ? process.env.SKYRUN_SERVER_ARGS.split(' ').filter(Boolean) : []),
    ];
    const out = openSync(path.join(serverDir(), 'server.log'), 'a', 0o600);
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', out, out] });
    closeSync(out);
    child.unref();
    writeFileSync(path.join(serverDir(), 'server.json'), JSON.stringify({ pid: child.pid, port, uiPort, ui }), {
      mode: 0o600,
    });
    for (let i = 0; i < 600; i++) {
      if (!processAlive(child.pid!)) {
        const tail = readFileSync(path.join(serverDir(), 'server.log'), 'utf8').split('\n').slice(-15).join('\n');
        throw new Error(
          `the Temporal dev server exited at start; its log (${serverDir()}/server.log) ends with:\n${tail}`,
        );
      }
      if (await portOpen(port)) break;
      await sleep(100);
    }
    await namespaceReady(bin, port);
    if (ui) await startUiProxy(uiPort, uiPortOf(args));
    status = await serverStatus();
    if (!status.running) throw new Error(`the Temporal dev server did not open port ${port} within 60 s`);
    return { started: true, status };
  });
}

/**
 * The port opens a moment before the dev server has registered its `default` namespace; a worker
 * or command arriving in between gets "Namespace default is not found". Wait for it (bounded).
 */
async function namespaceReady(bin: string, port: number): Promise<void> {
  const args = ['operator', 'namespace', 'describe', '--namespace', 'default', '--address', `127.0.0.1:${port}`];
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) =>
      spawn(bin, args, { stdio: 'ignore' })
        .once('exit', (code) => resolve(code === 0))
        .once('error', () => resolve(false)),
    );
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`the Temporal dev server on port ${port} did not register its default namespace within 20 s`);
}

async function stopPid(file: string): Promise<boolean> {
  const info = readJson<PidFile>(file);
  if (!info || !processAlive(info.pid)) {
    rmSync(file, { force: true });
    return false;
  }
  process.kill(info.pid, 'SIGTERM');
  for (let i = 0; i < 100 && processAlive(info.pid); i++) await sleep(100);
  if (processAlive(info.pid)) process.kill(info.pid, 'SIGKILL');
  rmSync(file, { force: true });
  return true;
}

export async function stopServer(): Promise<boolean> {
  await stopWorker();
  await stopPid(path.join(serverDir(), 'ui-proxy.json'));
  return stopPid(path.join(serverDir(), 'server.json'));
}

function uiPortOf(args: string[]): number {
  return Number(args[args.indexOf('--ui-port') + 1]);
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** The UI's Host-checking proxy (ui-proxy.ts), as a process of its own beside the server. */
async function startUiProxy(listenPort: number, uiPort: number): Promise<void> {
  const out = openSync(path.join(serverDir(), 'server.log'), 'a', 0o600);
  const child = spawn(process.execPath, [path.join(__dirname, 'ui-proxy.js'), String(listenPort), String(uiPort)], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  child.unref();
  writeFileSync(path.join(serverDir(), 'ui-proxy.json'), JSON.stringify({ pid: child.pid }), { mode: 0o600 });
  for (let i = 0; i < 100 && !(await portOpen(listenPort)); i++) await sleep(100);
}

// ---- background worker ---------------------------------------------------------------------

export function workerFile(): string {
  return homePath('worker.json');
}

/** Identifies the installed build, so a rebuilt SkyRun replaces an old background worker. */
export function buildId(): string {
  const files = [path.join(__dirname, '..', 'main.js'), path.join(__dirname, '..', '..', 'workflow-bundle.js')];
  return files.map((f) => Math.round(statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0)).join('-');
}

export async function workerStatus(): Promise<{ running: boolean; pid?: number; current: boolean }> {
  const info = readJson<PidFile & { build?: string; ready?: boolean }>(workerFile());
  const running = !!info && processAlive(info.pid) && !!info.ready;
  return { running, pid: running ? info!.pid : undefined, current: running && info!.build === buildId() };
}

/**
 * The background worker, under its supervisor (supervisor.ts), which starts it again when it
 * dies. Waits until a worker of this build is ready.
 */
export async function ensureWorker(): Promise<{ started: boolean; pid: number }> {
  return withLock('worker', async () => {
    const st = await workerStatus();
    if (st.running && st.current) return { started: false, pid: st.pid! };
    if (st.running) await stopWorker();
    const supervisor = supervisorRunning() ? readJson<PidFile>(supervisorFile())!.pid : spawnSupervisor();
    for (let i = 0; i < 1200; i++) {
      const now = await workerStatus();
      if (now.running && now.current) return { started: true, pid: now.pid! };
      if (!processAlive(supervisor)) break;
      await sleep(50);
    }
    const tail = existsSync(homePath('worker.log'))
      ? readFileSync(homePath('worker.log'), 'utf8').split('\n').slice(-20).join('\n')
      : '';
    throw new Error(`the SkyRun worker did not start; ${homePath('worker.log')} ends with:\n${tail}`);
  });
}

export function supervisorRunning(): boolean {
  const pid = readJson<PidFile>(supervisorFile())?.pid;
  return !!pid && processAlive(pid);
}

function spawnSupervisor(): number {
  const out = openSync(homePath('worker.log'), 'a', 0o600);
  chmodSync(homePath('worker.log'), 0o600);
  const child = spawn(process.execPath, [path.join(__dirname, 'supervisor.js')], {
    detached: true,
    stdio: ['ignore', out, out],
    env: process.env,
  });
  closeSync(out);
  child.unref();
  return child.pid!;
}

/** Stop the supervisor (which stops its worker), then any worker left without one. */
export async function stopWorker(): Promise<boolean> {
  const supervised = await stopPid(supervisorFile());
  return (await stopPid(workerFile())) || supervised;
}
