/**
 * The SSH runner (ssh2): SSH node pools and cloud VMs. A node's SkyRun root is ~/.skyrun-node
 * (jobs under jobs/<id>/ with the local runner's file names) and its workdir ~/sky_workdir.
 * Phases run in the local runner's WRAPPER, started with `setsid nohup` so they outlive the SSH
 * connection and the worker. Connections are pooled per user@host:port (and key, proxy, host
 * key record) in this process; a node's host key is trusted on first use (host-keys.ts).
 *
 * With `spec.container` (docker mode, runners/container.ts) each phase runs in the node's container.
 *
 * User values never reach a shell unquoted: every remote command is built from words quoted by
 * `shq` (ssh-scripts.ts); scripts and env vars (`<phase>.env`, mode 0600) go on a command's stdin.
 * Only exec channels are used (no SFTP): files go as a tar stream (file-sync.ts). Each new
 * connection also checks, in the same round trip as it learns $HOME, that the host has the tools
 * SkyRun runs there (PREFLIGHT); a host without them is refused before any job (preflight()).
 *
 * size: one Runner implementation over one pooled connection type; its helpers already live in
 * ssh-scripts.ts, ssh-proxy.ts, workdir-files.ts and host-keys.ts.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { Client, type ClientChannel } from 'ssh2';
import type { GitWorkdir, RunnerSpec } from '../../../core/cluster';
import { ProviderError, type ErrorClass } from '../../../core/errors';
import { mountBucket, UNMOUNT_ALL, type NodeMount } from './bucket-mount';
import { CONTAINER_FNS } from './container';
import { syncFolder, syncLocalPath, workdirFolder, type RunScript, type Stdin } from './file-sync';
import { CLONE_TIMEOUT_MS, GIT_CLONE, cloneArgs, cloneFailure, cloneStdin } from './git-workdir';
import { checkHostKey, hostKeyRecord } from './host-keys';
import { WRAPPER } from './local';
import type { DetachedStart, Phase, PhaseState, Runner } from './runner';
import { proxySocket } from './ssh-proxy';
import {
  KILL,
  LIST_JOBS,
  MISSING_TOOLS,
  PREFLIGHT,
  READ_LOG,
  START_WITH_FILES,
  STATE,
  WAIT_STATE,
  bashCommand,
  envFile,
  parsePreflight,
  phaseStateFrom,
  shq,
} from './ssh-scripts';

export { envFile, shq } from './ssh-scripts';
export { isIgnored, parseIgnore } from './workdir-files';

export type SshSpec = Extract<RunnerSpec, { kind: 'ssh' }>;

// ---------------------------------------------------------------------------------------------
// Connections

interface Conn {
  client: Client;
  /** the remote $HOME, absolute */
  home: string;
  /** what the host lacks of the tools SkyRun runs there (PREFLIGHT) */
  missing: string[];
  closed: boolean;
  /** take it out of the pool */
  forget: () => void;
  /**
   * channels this connection may still open: OpenSSH allows 10 sessions (MaxSessions) and frees
   * one a little after its channel closes, so stay well below
   */
  slots: number;
  waiting: (() => void)[];
}

const MAX_CHANNELS = 5;
const pool = new Map<string, Promise<Conn>>();

function where(s: SshSpec): string {
  return `ssh ${s.user}@${s.host}:${s.port}`;
}

/** Thrown when a request never reached the remote side: safe to retry on a new connection. */
class NotStarted extends Error {}

/** One line for any SSH failure, with its error class. */
function toProviderError(spec: SshSpec, e: unknown): ProviderError {
  if (e instanceof ProviderError) return e;
  const err = e as Error & { level?: string; code?: string };
  const first = String(err?.message ?? e).split('\n')[0];
  let cls: ErrorClass = 'transient';
  let what = first;
  if (err?.level === 'client-authentication') {
    cls = 'auth';
    what = 'authentication failed (key not accepted for this user)';
  } else if (err?.level === 'client-timeout' || err?.code === 'ETIMEDOUT') {
    what = `connection timed out (${first})`;
  } else if (err?.code) {
    what = `connection failed: ${err.code}`;
  }
  return new ProviderError(cls, `${where(spec)}: ${what}`, err?.code);
}

async function connect(spec: SshSpec, forget: () => void): Promise<Conn> {
  let privateKey: Buffer;
  try {
    privateKey = await fsp.readFile(spec.identityFile);
  } catch (e) {
    throw new ProviderError(
      'config',
      `${where(spec)}: cannot read identity file ${spec.identityFile} (${(e as NodeJS.ErrnoException).code})`,
    );
  }
  const client = new Client();
  const sock = spec.proxyCommand ? proxySocket(spec) : undefined;
  const conn: Conn = { client, home: '', missing: [], closed: false, forget, slots: MAX_CHANNELS, waiting: [] };
  const drop = () => {
    conn.closed = true;
    forget();
  };
  // ssh2 may emit several errors; a live connection's errors surface through its next request
  client.on('error', drop);
  client.on('close', drop);
  client.on('end', drop);
  let refused: ProviderError | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve);
      client.once('error', reject);
      client.once('close', () => reject(new Error('connection closed during the handshake')));
      client.connect({
        host: spec.host,
        port: spec.port,
        username: spec.user,
        privateKey,
        sock,
        readyTimeout: 20_000,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        // trust on first use per cluster node; a changed (or unpinned) key is refused
        hostVerifier: (key: Buffer) => {
          refused = checkHostKey(spec, key);
          return !refused;
        },
      });
    });
  } catch (e) {
    client.end();
    sock?.destroy();
    if (refused) throw refused;
    const msg = (e as Error).message ?? '';
    if (/parse privateKey|Encrypted private/i.test(msg)) {
      throw new ProviderError(
        'config',
        `${where(spec)}: cannot use identity file ${spec.identityFile}: ${msg.split('\n')[0]}`,
      );
    }
    // the proxy's own words say why; wait (briefly) until they are all read
    if (sock) await Promise.race([sock.exited, new Promise((r) => setTimeout(r, 1000))]);
    const proxyErr = sock?.stderr.trim().split('\n').join('; ').slice(0, 300);
    if (proxyErr) throw new ProviderError('transient', `${where(spec)}: proxy command failed: ${proxyErr}`);
    throw toProviderError(spec, e);
  }
  if (!sock) client.setNoDelay(true);
  try {
    // one round trip: $HOME, and which tools the host lacks (refused later, by preflight())
    const r = await runOn(spec, conn, ['sh', '-c', PREFLIGHT].map(shq).join(' '), undefined, 20_000);
    const { home, missing } = parsePreflight(r.stdout.toString());
    if (r.code === 127 && !home)
      conn.missing = ['sh']; // not even a POSIX shell to ask with
    else if (r.code !== 0 || !home)
      throw new ProviderError('config', `${where(spec)}: cannot find the remote home folder`);
    conn.home = home;
    if (home) conn.missing = missing;
  } catch (e) {
    client.end();
    throw toProviderError(spec, e);
  }
  return conn;
}

function getConn(spec: SshSpec): Promise<Conn> {
  // per user@host:port, and per key and proxy so that a different identity never rides along
  const rec = hostKeyRecord(spec);
  const key = JSON.stringify([
    spec.user,
    spec.host,
    spec.port,
    spec.identityFile,
    spec.proxyCommand ?? '',
    rec.file,
    rec.alias,
    rec.pinned ?? '',
  ]);
  const pooled = pool.get(key);
  if (pooled) return pooled;
  const forget = () => {
    if (pool.get(key) === entry) pool.delete(key);
  };
  const entry: Promise<Conn> = connect(spec, forget);
  pool.set(key, entry);
  entry.catch(forget);
  return entry;
}

function evict(conn: Conn): void {
  conn.closed = true;
  conn.forget();
  conn.client.end();
}

/** End every pooled connection (tests, worker shutdown, CLI exit). */
export async function closeAllSsh(): Promise<void> {
  const conns = await Promise.allSettled([...pool.values()]);
  pool.clear();
  for (const c of conns) if (c.status === 'fulfilled') c.value.client.end();
}

async function acquire(conn: Conn): Promise<void> {
  if (conn.slots > 0) {
    conn.slots--;
    return;
  }
  await new Promise<void>((r) => conn.waiting.push(r));
}

function release(conn: Conn): void {
  const next = conn.waiting.shift();
  if (next) next();
  else conn.slots++;
}

interface ExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * Open an exec channel. sshd frees a session slot a little after the channel closes on our
 * side, so "open failed" (MaxSessions) is retried briefly; the command has not run then.
 */
async function openExec(
  spec: SshSpec,
  conn: Conn,
  command: string,
): Promise<{ ch: ClientChannel; exit: { code?: number } }> {
  for (let attempt = 0; ; attempt++) {
    if (conn.closed) throw new NotStarted('connection closed');
    try {
      return await new Promise((resolve, reject) =>
        conn.client.exec(command, (err, ch) => {
          if (err) return reject(err);
          // listen now: 'exit' may come with the reply, before an awaiting caller resumes
          const exit: { code?: number } = {};
          ch.on('exit', (c: number | null) => (exit.code = c ?? 255));
          resolve({ ch, exit });
        }),
      );
    } catch (e) {
      if (conn.closed) throw new NotStarted((e as Error).message); // incl. "Not connected"
      if (!/open failed/i.test((e as Error).message) || attempt >= 50) throw toProviderError(spec, e);
      await new Promise((r) => setTimeout(r, 10 + attempt * 5));
    }
  }
}

/** Run one command on an exec channel; stdin (optional) is sent and closed. */
async function runOn(
  spec: SshSpec,
  conn: Conn,
  command: string,
  stdin: string | Stdin | undefined,
  timeoutMs: number,
): Promise<ExecResult> {
  await acquire(conn);
  try {
    const { ch: stream, exit } = await openExec(spec, conn, command);
    return await new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = [];
      let errText = '';
      const timer = setTimeout(() => {
        stream.close();
        reject(new ProviderError('transient', `${where(spec)}: command timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      stream.on('data', (d: Buffer) => out.push(d));
      stream.stderr.on('data', (d: Buffer) => (errText = (errText + d).slice(-4000)));
      stream.on('close', () => {
        clearTimeout(timer);
        const code = exit.code;
        if (code === undefined)
          return reject(new ProviderError('transient', `${where(spec)}: connection lost while a command ran`));
        resolve({ code, stdout: Buffer.concat(out), stderr: errText });
      });
      if (stdin === undefined || typeof stdin === 'string' || Buffer.isBuffer(stdin)) stream.end(stdin);
      // a stream: what the command does not read is dropped; its exit code tells how it went
      else pipeline(Readable.from(stdin.chunks()), stream, () => undefined);
    });
  } finally {
    release(conn);
  }
}

// ---------------------------------------------------------------------------------------------

export interface ExecOptions {
  /** sent on the command's stdin */
  stdin?: string | Buffer;
  timeoutMs?: number;
}

export class SshRunner implements Runner {
  constructor(readonly spec: SshSpec) {
    if (!/^[A-Za-z0-9._:-]+$/.test(spec.host))
      throw new ProviderError('invalid', `invalid ssh host ${JSON.stringify(spec.host)}`);
    if (!/^[A-Za-z0-9._-]+$/.test(spec.user))
      throw new ProviderError('invalid', `invalid ssh user ${JSON.stringify(spec.user)}`);
    if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535)
      throw new ProviderError('invalid', `invalid ssh port ${spec.port}`);
  }

  /**
   * Run on a pooled connection; a request that never reached the node because the connection
   * had dropped is retried once on a fresh connection.
   */
  private async withConn<T>(
    fn: (c: Conn) => Promise<T>,
    opts: { idempotent: boolean } = { idempotent: true },
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const conn = await getConn(this.spec);
      try {
        return await fn(conn);
      } catch (e) {
        const dropped = e instanceof NotStarted || conn.closed;
        if (dropped) evict(conn);
        if (dropped && attempt === 0 && (opts.idempotent || e instanceof NotStarted)) continue;
        throw toProviderError(this.spec, e);
      }
    }
  }

  private async script(
    conn: Conn,
    what: string,
    script: string,
    args: (string | number)[],
    stdin?: string | Stdin,
    timeoutMs = 60_000,
  ): Promise<Buffer> {
    const r = await runOn(this.spec, conn, bashCommand(script, args), stdin, timeoutMs);
    if (r.code !== 0) {
      const detail = r.stderr.trim().split('\n').pop() || `exit code ${r.code}`;
      throw new ProviderError('unknown', `${where(this.spec)}: ${what} failed: ${detail}`);
    }
    return r.stdout;
  }

  private jobDir(conn: Conn, jobId: number): string {
    return path.posix.join(conn.home, this.spec.nodeDir ?? '.skyrun-node', 'jobs', String(jobId));
  }

  /** START's wrapper and its docker mode arguments (runners/container.ts). */
  private wrapper(conn: Conn): string[] {
    const k = this.spec.container;
    if (!k) return [WRAPPER];
    const nodeDir = path.posix.join(conn.home, this.spec.nodeDir ?? '.skyrun-node');
    return [`${CONTAINER_FNS}\n${WRAPPER}`, k.name, k.image, k.gpus ? '1' : '0', nodeDir];
  }

  private workdir(conn: Pick<Conn, 'home'>): string {
    return path.posix.join(conn.home, 'sky_workdir');
  }

  /**
   * A short command (e.g. a provider's reachability check); each argument is shell-quoted.
   * Retried on a fresh connection only when it never reached the node.
   */
  async exec(cmd: string[], opts: ExecOptions = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const command = cmd.map(shq).join(' ');
    const r = await this.withConn((c) => runOn(this.spec, c, command, opts.stdin, opts.timeoutMs ?? 60_000), {
      idempotent: false,
    });
    return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr };
  }

  /**
   * Refuse a host that lacks tools SkyRun runs there, in one line naming them (class 'unknown',
   * code MISSING_TOOLS: failover moves on to another host, pool or infra). No extra round trip:
   * the connection learnt it when it was opened.
   */
  async preflight(): Promise<void> {
    await this.checkedHome();
  }

  /** The remote $HOME of a host that passed the preflight. */
  private async checkedHome(): Promise<string> {
    const { home, missing } = await this.withConn(async (c) => ({ home: c.home, missing: c.missing }));
    if (missing.length)
      throw new ProviderError(
        'unknown',
        `host ${this.spec.host}: missing ${missing.join(', ')} (needed by SkyRun's job wrapper)`,
        MISSING_TOOLS,
      );
    return home;
  }

  /** PREPARE, the phase's files (on stdin, under fresh names) and START in one command. */
  async startDetached(req: DetachedStart): Promise<void> {
    await this.preflight();
    const env = Buffer.from(envFile(req.env));
    const script = Buffer.from(req.script);
    const nonce = randomBytes(6).toString('hex');
    await this.withConn(async (c) => {
      const args = [this.jobDir(c, req.jobId), req.phase, this.workdir(c), nonce, script.length, ...this.wrapper(c)];
      await this.script(c, 'starting the phase', START_WITH_FILES, args, Buffer.concat([script, env]));
    });
  }

  async phaseState(jobId: number, phase: Phase): Promise<PhaseState> {
    const out = await this.withConn(async (c) =>
      (await this.script(c, 'reading the phase state', STATE, [this.jobDir(c, jobId), phase])).toString(),
    );
    return phaseStateFrom(out, where(this.spec));
  }

  /** WAIT_STATE: the phase's state once it ended, or after `ms` (checked on the node every 10 ms). */
  async waitPhase(jobId: number, phase: Phase, ms: number): Promise<PhaseState> {
    const out = await this.withConn(async (c) => {
      const args = [this.jobDir(c, jobId), phase, Math.ceil(ms / 10)];
      return (await this.script(c, 'waiting on the phase', WAIT_STATE, args, undefined, 3 * ms + 10_000)).toString();
    });
    return phaseStateFrom(out, where(this.spec));
  }

  async kill(jobId: number): Promise<void> {
    await this.withConn((c) => this.script(c, 'killing the job', KILL, [this.jobDir(c, jobId)]));
  }

  async killAll(): Promise<void> {
    const jobs = await this.withConn(async (c) =>
      (await this.script(c, 'listing the jobs', LIST_JOBS, [path.posix.dirname(this.jobDir(c, 0))])).toString(),
    );
    for (const j of jobs.split('\n').filter((x) => /^\d+$/.test(x))) await this.kill(Number(j));
    await this.withConn((c) => this.script(c, 'unmounting buckets', UNMOUNT_ALL, []));
  }

  async readLog(jobId: number, offset: number, maxBytes = 1 << 20): Promise<{ data: Buffer; offset: number }> {
    const data = await this.withConn((c) =>
      this.script(c, 'reading the log', READ_LOG, [`${this.jobDir(c, jobId)}/log`, offset, maxBytes]),
    );
    return { data, offset: offset + data.length };
  }

  /**
   * Copy a folder to ~/sky_workdir as a tar stream (file-sync.ts): ignored and unchanged files are
   * skipped; remote files absent locally are kept (like SkyPilot's rsync, no --delete).
   */
  async syncWorkdir(localDir: string): Promise<void> {
    const src = await workdirFolder(localDir);
    await syncFolder(src, this.workdir({ home: await this.checkedHome() }), this.runScript);
  }

  /**
   * GIT_CLONE into ~/sky_workdir, credentials on stdin. Checked only here, for a task with a git
   * workdir: a host without git fails with one line saying so.
   */
  async cloneWorkdir(git: GitWorkdir): Promise<void> {
    const dest = this.workdir({ home: await this.checkedHome() });
    const cmd = bashCommand(GIT_CLONE, cloneArgs(dest, git));
    const r = await this.withConn((c) => runOn(this.spec, c, cmd, cloneStdin(git), CLONE_TIMEOUT_MS));
    if (r.code !== 0) throw cloneFailure(where(this.spec), git, r.code, r.stderr);
  }

  /** A file_mounts entry: a local file or folder to `~/...` or an absolute path on the node. */
  async syncPath(localPath: string, remotePath: string): Promise<void> {
    const home = await this.checkedHome();
    const dst = remotePath.startsWith('~/') ? path.posix.join(home, remotePath.slice(2)) : remotePath;
    await syncLocalPath(localPath, dst, this.runScript);
  }

  async mountBucket(m: NodeMount): Promise<void> {
    await mountBucket(m, where(this.spec), this.runScript);
  }

  private readonly runScript: RunScript = (what, script, args, opts) =>
    this.withConn((c) => this.script(c, what, script, args, opts.stdin, opts.timeoutMs));
}
