/**
 * Commands in a pod through the Kubernetes API's exec (a websocket, as `kubectl exec`), with
 * @kubernetes/client-node's Exec. Two fake-kubelet habits (kwok) shape it, and real kubelets
 * work the same way:
 * - a non-zero exit may come back as a Failure status ("exit status N") rather than an exit code,
 *   so every command prints its own code last on stderr (`__skyrun_rc=N`) and exits 0;
 * - stdin's EOF is not passed on, so a command given input reads exactly the bytes sent
 *   (`head -c N | bash -c SCRIPT`); stdin is never closed by this side.
 * A `~/`-prefixed argument is expanded in the pod to its $HOME (unless asked not to). Scripts are fixed texts with user
 * values only as arguments (as over SSH); stdin carries anything secret (never argv).
 *
 * A dropped exec (connection refused or reset, the stream closed before the command's status, a
 * 5xx or 429 from the API server) is retried a few times: every caller's script is idempotent
 * (adopting a started phase, rewriting a file). What stays unreachable is ProviderError
 * 'transient'; a refused credential 'auth'; a missing pod or container 'unknown'.
 */
import { statSync } from 'node:fs';
import { PassThrough, type Writable } from 'node:stream';
import { CoreV1Api, Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import type { RunnerSpec } from '../../../core/cluster';
import { ProviderError, type ErrorClass } from '../../../core/errors';
import { forContext, kubeconfigFiles, loadKubeConfig } from '../clouds/kubernetes/kubeconfig';
import type { Stdin } from './file-sync';

export type KubeSpec = Extract<RunnerSpec, { kind: 'kube' }>;
type Socket = Awaited<ReturnType<Exec['exec']>>;

export function where(t: KubeSpec): string {
  return `pod ${t.namespace}/${t.pod} (context ${t.context})`;
}

const configs = new Map<string, KubeConfig>();

/** The worker's kubeconfig with `context` current; re-read when a kubeconfig file changes. */
export function kubeConfigFor(context: string): KubeConfig {
  const stamp = kubeconfigFiles().map((f) => {
    try {
      const st = statSync(f);
      return [f, st.mtimeMs, st.size];
    } catch {
      return [f];
    }
  });
  const key = JSON.stringify([context, stamp]);
  let kc = configs.get(key);
  if (!kc) {
    kc = forContext(loadKubeConfig(), context);
    if (configs.size > 32) configs.clear();
    configs.set(key, kc);
  }
  return kc;
}

export interface ExecOptions {
  stdin?: Stdin;
  /** expand a leading `~/` of each argument to the pod's $HOME (default: yes) */
  expandHome?: boolean;
  /** for one attempt, connection included */
  timeoutMs?: number;
  attempts?: number;
}

export interface ScriptResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * The command every exec runs: $1 the script, $2 stdin's size (-1: none), $3 1 to expand a
 * leading `~/` of each argument to $HOME, then the script's arguments.
 */
const OUTER = `s=$1 n=$2 x=$3; shift 3
[ "$x" = 1 ] && for a; do case $a in "~") a=$HOME;; "~/"*) a="$HOME/\${a#"~/"}";; esac; set -- "$@" "$a"; shift; done
if [ "$n" -ge 0 ]; then head -c "$n" | bash -c "$s" bash "$@"; else bash -c "$s" bash "$@" < /dev/null; fi
printf '\\n__skyrun_rc=%s\\n' "$?" >&2`;

const MARKER = /\n__skyrun_rc=(\d+)\n$/;

/** Thrown when an exec broke off: safe to run again (every script here is idempotent). */
class Dropped extends Error {}

const stdinSize = (s: Stdin | undefined) => (s === undefined ? -1 : Buffer.isBuffer(s) ? s.length : s.size);

/** Run a fixed bash script in the pod with `args`; the script's exit code, stdout and stderr. */
export async function podScript(
  t: KubeSpec,
  script: string,
  args: (string | number)[],
  opts: ExecOptions = {},
): Promise<ScriptResult> {
  const size = String(stdinSize(opts.stdin));
  const expand = opts.expandHome === false ? '0' : '1';
  const command = ['bash', '-c', OUTER, 'skyrun', script, size, expand, ...args.map(String)];
  const attempts = opts.attempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await execOnce(t, command, opts.stdin, opts.timeoutMs ?? 60_000);
      const text = r.stderr.toString();
      const m = MARKER.exec(text);
      if (m) return { code: Number(m[1]), stdout: r.stdout, stderr: text.slice(0, m.index) };
      throw failed(t, r.status, text);
    } catch (e) {
      if (!(e instanceof Dropped)) throw e;
      if (attempt >= attempts) throw new ProviderError('transient', `${where(t)}: ${e.message} (${attempt} attempts)`);
      await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
    }
  }
}

/** The exit code a status reports: real kubelets' NonZeroExitCode cause, or kwok's "exit status N". */
export function exitCodeOf(status: V1Status | undefined): number | undefined {
  if (!status) return undefined;
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (cause?.message && /^\d+$/.test(cause.message)) return Number(cause.message);
  const m = /exit status (\d+)/.exec(status.message ?? '');
  return m ? Number(m[1]) : undefined;
}

/** The command ran but printed no exit code: the pod cannot run it (no bash, no such container). */
function failed(t: KubeSpec, status: V1Status | undefined, stderr: string): ProviderError {
  const msg = (status?.message ?? '').split('\n')[0]!.slice(0, 300);
  const detail = msg || stderr.trim().split('\n').pop() || 'no exit status';
  if (/executable file not found|no such file or directory|exit status 127/i.test(detail)) {
    return new ProviderError('config', `${where(t)}: the container needs bash, head and tar (${detail})`);
  }
  return new ProviderError('unknown', `${where(t)}: exec failed: ${detail}`);
}

/** A stream stand-in that keeps what the websocket handler writes, synchronously, in order. */
function sink(into: Buffer[]): Writable {
  return { write: (b: Buffer) => into.push(Buffer.from(b)), end: () => undefined } as unknown as Writable;
}

interface Raw {
  stdout: Buffer;
  stderr: Buffer;
  status?: V1Status;
}

function execOnce(t: KubeSpec, command: string[], stdin: Stdin | undefined, timeoutMs: number): Promise<Raw> {
  return new Promise<Raw>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let status: V1Status | undefined;
    let ws: Socket | undefined;
    let settled = false;
    const finish = (e?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws?.close();
      if (e) reject(e);
      else resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), status });
    };
    const timer = setTimeout(() => {
      ws?.terminate();
      finish(new ProviderError('transient', `${where(t)}: exec timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    let kc: KubeConfig;
    try {
      kc = kubeConfigFor(t.context);
    } catch (e) {
      return finish(e as Error);
    }
    // stdin: a stream that never ends (see the file comment); the bytes go out below, paced
    const input = stdin === undefined ? null : new PassThrough();
    quietExec(kc)
      .exec(t.namespace, t.pod, t.container, command, sink(out), sink(err), input, false, (s) => {
        status = s;
        finish();
      })
      .then(
        (sock) => {
          ws = sock;
          if (settled) return sock.close();
          sock.on('close', () => finish(new Dropped('the exec stream closed before the command ended')));
          if (stdin !== undefined)
            send(sock, stdin).catch((e: Error) => finish(new Dropped(`sending input failed: ${e.message}`)));
        },
        (e: unknown) => connectError(kc, t, e).then(finish, finish),
      );
  });
}

/**
 * An Exec whose websocket handler never touches this process's own streams: the handler's default
 * streams (for a CLOSE frame from the server) are process.stdin/stdout/stderr.
 */
function quietExec(kc: KubeConfig): Exec {
  const exec = new Exec(kc);
  const none = () => new PassThrough();
  (exec.handler as unknown as { streams: unknown }).streams = { stdin: none(), stdout: none(), stderr: none() };
  return exec;
}

const STDIN_CHANNEL = Buffer.from([0]);
const FRAME = 256 * 1024;

async function send(ws: Socket, stdin: Stdin): Promise<void> {
  const frame = (b: Buffer) =>
    new Promise<void>((resolve, reject) =>
      ws.send(Buffer.concat([STDIN_CHANNEL, b]), (e?: Error) => (e ? reject(e) : resolve())),
    );
  const chunks = Buffer.isBuffer(stdin) ? [stdin] : stdin.chunks();
  for await (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i += FRAME) {
      if (ws.readyState !== 1 /* OPEN */) throw new Error('the exec stream closed');
      await frame(chunk.subarray(i, i + FRAME));
    }
  }
}

/** Why the websocket could not be opened, as the error class a caller acts on. */
async function connectError(kc: KubeConfig, t: KubeSpec, e: unknown): Promise<Error> {
  const ev = e as { message?: string; error?: NodeJS.ErrnoException };
  const text = String(ev?.message ?? ev?.error?.message ?? e);
  const http = /Unexpected server response: (\d+)/.exec(text);
  const code = http ? Number(http[1]) : undefined;
  if (code === undefined) {
    const errno = ev?.error?.code ?? '';
    if (
      /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN/.test(errno) ||
      /hang up/.test(text)
    )
      return new Dropped(`cannot reach the API server (${errno || text})`);
    return new ProviderError('config', `${where(t)}: cannot open an exec stream: ${text.slice(0, 300)}`);
  }
  if (code === 429 || code >= 500) return new Dropped(`the API server answered ${code}`);
  if (code === 401) return new ProviderError('auth', `${where(t)}: the API server refused the credentials (401)`);
  if (code === 403)
    return new ProviderError('auth', `${where(t)}: forbidden (403): exec into pods needs RBAC 'create pods/exec'`);
  return podProblem(kc, t, code);
}

/** A 4xx on exec: say what is wrong with the pod (gone, not running yet, no such container). */
async function podProblem(kc: KubeConfig, t: KubeSpec, code: number): Promise<Error> {
  let cls: ErrorClass = 'unknown';
  let why = `the API server answered ${code}`;
  try {
    const pod = await kc.makeApiClient(CoreV1Api).readNamespacedPod({ name: t.pod, namespace: t.namespace });
    const phase = pod.status?.phase ?? 'Unknown';
    const names = pod.spec?.containers.map((c) => c.name) ?? [];
    if (!names.includes(t.container)) why = `it has no container '${t.container}' (it has ${names.join(', ')})`;
    else if (phase === 'Pending') {
      cls = 'transient';
      why = 'it is still Pending';
    } else if (phase !== 'Running') why = `it is ${phase}`;
  } catch (e) {
    const status = (e as { code?: number }).code;
    if (status === 404) why = 'it does not exist (deleted?)';
  }
  return new ProviderError(cls, `${where(t)}: cannot exec: ${why}`);
}

/** Run `command` (argv) in the pod wired to the given streams; resolves with its exit code. */
export async function podAttach(
  t: KubeSpec,
  command: string[],
  io: { stdin: NodeJS.ReadableStream | null; stdout: Writable; stderr: Writable | null; tty: boolean },
): Promise<number> {
  const kc = kubeConfigFor(t.context);
  return new Promise<number>((resolve, reject) => {
    let done = false;
    const end = (code: number) => {
      if (!done) resolve(code);
      done = true;
    };
    new Exec(kc)
      .exec(
        t.namespace,
        t.pod,
        t.container,
        command,
        io.stdout,
        io.stderr,
        io.stdin as unknown as import('node:stream').Readable,
        io.tty,
        (s) => {
          const code = exitCodeOf(s);
          if (code === undefined) {
            io.stderr?.write(`skyrun: ${s.message ?? 'exec failed'}\n`);
            end(255);
          } else end(code);
        },
      )
      .then(
        (ws) =>
          ws.on('close', () => {
            if (!done) (io.stderr ?? io.stdout).write('skyrun: the exec stream closed before the exit status\n');
            end(255);
          }),
        (e: unknown) =>
          connectError(kc, t, e).then((err) =>
            reject(err instanceof Dropped ? new ProviderError('transient', `${where(t)}: ${err.message}`) : err),
          ),
      );
  });
}
