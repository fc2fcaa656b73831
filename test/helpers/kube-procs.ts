/**
 * The pieces of the test Kubernetes control plane (test/helpers/kube.ts) that are not Kubernetes:
 * where the binaries are, the PKI made with openssl, child processes in their own process groups
 * with their output in log files, waiting for health endpoints, and finding the processes a fake
 * pod's exec left behind (by an environment marker, since they outlive kwok's exec call and are
 * reparented away from kwok).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { toolsDir } from '../../worker/runtime/temporal-cli';
import { sleep } from './skyrun';
import { childrenOf } from './sshd';

export const KUBE_VERSION = 'v1.36.3';
const NEED = [
  'kube-apiserver',
  'kube-scheduler',
  'etcd',
  'kwok',
  'kwok-stages.yaml',
  'kwok-crd-exec.yaml',
  'kwok-crd-portforward.yaml',
];

/** The folder scripts/kube-bins.sh fills; an error naming that script when anything is missing. */
export function kubeBinDir(): string {
  const dir = path.join(toolsDir(), `k8s-${KUBE_VERSION}`);
  const missing = NEED.filter((f) => !existsSync(path.join(dir, f)) || statSync(path.join(dir, f)).size === 0);
  if (missing.length > 0) {
    throw new Error(
      `the Kubernetes test binaries are missing in ${dir} (${missing.join(', ')}): run bash scripts/kube-bins.sh ` +
        '(npm test runs it through scripts/test-deps; it needs Go 1.26+ and builds them once, about 10 minutes)',
    );
  }
  return dir;
}

export interface Pki {
  caCrt: string;
  serverCrt: string;
  serverKey: string;
  saKey: string;
  saPub: string;
}

/** A CA, one serving/client certificate for 127.0.0.1 and localhost signed by it, and a service-account key pair. */
export function makePki(dir: string): Pki {
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=skyrun-test-ca');
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(
    f('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n',
  );
  ssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  ssl('genrsa', '-out', 'sa.key', '2048');
  ssl('rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub');
  return {
    caCrt: f('ca.crt'),
    serverCrt: f('server.crt'),
    serverKey: f('server.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
  };
}

export interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
}

/** What every piece runs with: no secrets, nothing from the test's own environment. */
export function trimmedEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' };
}

/** Starts `bin` in its own process group, its stdout and stderr in `logDir/<name>.log`. */
export function launch(name: string, bin: string, args: string[], logDir: string): Proc {
  const log = path.join(logDir, `${name}.log`);
  const fd = openSync(log, 'a');
  try {
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env: trimmedEnv() });
    child.unref();
    return { name, child, log };
  } finally {
    closeSync(fd);
  }
}

export function logTail(p: Proc, lines = 15): string {
  try {
    return readFileSync(p.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const running = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

function signalGroup(p: Proc, sig: NodeJS.Signals): void {
  try {
    process.kill(-p.child.pid!, sig);
  } catch {
    /* gone */
  }
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopProc(p: Proc, graceMs = 10_000): Promise<void> {
  if (!running(p)) return signalGroup(p, 'SIGKILL');
  const exited = new Promise((r) => p.child.once('exit', r));
  signalGroup(p, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(p, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  signalGroup(p, 'SIGKILL'); // anything left in its group
}

/** Last resort when a test process exits without stop(): SIGKILL every group, synchronously. */
export function killNow(procs: Proc[]): void {
  for (const p of procs) signalGroup(p, 'SIGKILL');
}

/** GETs `url` until it answers 200 (https verified against `ca` when given); fails if `p` exits. */
export async function waitHealthy(url: string, p: Proc, opts: { ca?: string; timeoutMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const ca = opts.ca ? readFileSync(opts.ca) : undefined;
  for (;;) {
    if (!running(p)) throw new Error(`${p.name} exited (${p.child.exitCode ?? p.child.signalCode}):\n${logTail(p)}`);
    if (await httpOk(url, ca)) return;
    if (Date.now() > deadline) throw new Error(`${p.name} not healthy at ${url} in time:\n${logTail(p)}`);
    await sleep(50);
  }
}

function httpOk(url: string, ca?: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, url.startsWith('https:') ? { ca, rejectUnauthorized: !!ca } : {}, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.setTimeout(2000, () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

/** Every process whose environment holds `marker` (a `NAME=value` string), and every descendant of `roots`. */
export function markedProcesses(marker: string, roots: number[] = []): number[] {
  const found = new Set<number>();
  const needle = Buffer.from(`${marker}\0`);
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${e}/environ`);
      if (env.indexOf(needle) === 0 || env.indexOf(Buffer.concat([Buffer.from('\0'), needle])) >= 0)
        found.add(Number(e));
    } catch {
      /* gone, or not ours to read */
    }
  }
  const queue = [...roots];
  while (queue.length > 0) {
    for (const c of childrenOf(queue.shift()!)) {
      if (!found.has(c)) queue.push(c);
      found.add(c);
    }
  }
  return [...found];
}

/** SIGKILLs the processes `markedProcesses` finds, repeating until none is left (a shell may fork meanwhile). */
export async function killMarked(marker: string, roots: number[] = []): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const pids = markedProcesses(marker, roots);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(20);
  }
}
