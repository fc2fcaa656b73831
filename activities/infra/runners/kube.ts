/**
 * The Kubernetes runner: a node is a pod, reached through the API server's exec (kube-exec.ts).
 * As on SSH nodes, the pod's SkyRun root is ~/.skyrun-node (jobs under jobs/<id>/) and its
 * workdir ~/sky_workdir; phases run detached in the local runner's WRAPPER, started by the SSH
 * runner's own scripts (ssh-scripts.ts), so a worker crash re-attaches and a repeated start adopts.
 * A phase's script and env travel on stdin, never argv: `<phase>.env` is written mode 0600.
 * Files go over as one tar stream (tar.ts) into `tar -x` in the pod; unchanged files (size and
 * mtime) are skipped, and .skyignore/.gitignore are honoured (workdir-files.ts).
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ProviderError } from '../../../core/errors';
import { podScript, where, type ExecOptions, type KubeSpec } from './kube-exec';
import { WRAPPER } from './local';
import type { DetachedStart, Phase, PhaseState, Runner } from './runner';
import { KILL, PREPARE, READ_LOG, START, STATE, SYNC_PREPARE, envFile, parseState } from './ssh-scripts';
import { tarSize, tarStream, type TarEntry } from './tar';
import { listWorkdir } from './workdir-files';

export type { KubeSpec } from './kube-exec';

const ROOT = '~/.skyrun-node/jobs';
const WORKDIR = '~/sky_workdir';

/**
 * $1 job dir, $2 phase, $3 workdir, $4 nonce, $5 wrapper, $6 the script's size; stdin: the script
 * then the env file. PREPARE, then (unless adopted) the two files under the nonce, then START.
 */
const START_POD = `prepare() {
${PREPARE}
}
start() {
${START}
}
a=$(prepare "$1" "$2" "$3") || exit 1
if [ "$a" = adopt ]; then echo adopt; exit 0; fi
in="$1/$2.in.$4"
( umask 077; cat > "$in" && head -c "$6" -- "$in" > "$1/$2.sh.$4" && tail -c +"$(($6 + 1))" -- "$in" > "$1/$2.env.$4" ) || exit 1
rm -f -- "$in"; chmod 700 -- "$1/$2.sh.$4"
start "$1" "$2" "$3" "$4" "$5"`;

/** $1 the jobs folder: KILL for each job in it. */
const KILL_ALL_POD = `k() {
${KILL}
}
for j in $(ls -- "$1" 2>/dev/null); do case $j in *[!0-9]*) continue;; esac; k "$1/$j"; done`;

/** $1 folder; stdin: a tar. Files keep their mode and mtime, not their owner. */
const EXTRACT = 'mkdir -p -- "$1" && tar -x -p --no-same-owner -f - -C "$1"';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export class KubeRunner implements Runner {
  constructor(readonly spec: KubeSpec) {
    if (!DNS_NAME.test(spec.pod) || spec.pod.length > 253)
      throw new ProviderError('invalid', `invalid pod name ${JSON.stringify(spec.pod)}`);
    if (!DNS_LABEL.test(spec.namespace) || spec.namespace.length > 63)
      throw new ProviderError('invalid', `invalid namespace ${JSON.stringify(spec.namespace)}`);
    if (!DNS_LABEL.test(spec.container) || spec.container.length > 63)
      throw new ProviderError('invalid', `invalid container name ${JSON.stringify(spec.container)}`);
  }

  /** Run a fixed script; its stdout, or a ProviderError with the last line of its stderr. */
  private async run(what: string, script: string, args: (string | number)[], opts?: ExecOptions): Promise<Buffer> {
    const r = await podScript(this.spec, script, args, opts);
    if (r.code !== 0) {
      const detail = r.stderr.trim().split('\n').pop() || `exit code ${r.code}`;
      throw new ProviderError('unknown', `${where(this.spec)}: ${what} failed: ${detail}`);
    }
    return r.stdout;
  }

  /** A short command (argv, byte-exact); retried only when the exec broke off. */
  async exec(cmd: string[], opts: ExecOptions = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = await podScript(this.spec, '"$@"', cmd, { expandHome: false, ...opts });
    return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr };
  }

  private jobDir(jobId: number): string {
    return `${ROOT}/${jobId}`;
  }

  async startDetached(req: DetachedStart): Promise<void> {
    const env = Buffer.from(envFile(req.env));
    const script = Buffer.from(req.script);
    const nonce = randomBytes(6).toString('hex');
    await this.run(
      'starting the phase',
      START_POD,
      [this.jobDir(req.jobId), req.phase, WORKDIR, nonce, WRAPPER, script.length],
      { stdin: Buffer.concat([script, env]) },
    );
  }

  async phaseState(jobId: number, phase: Phase): Promise<PhaseState> {
    const out = (await this.run('reading the phase state', STATE, [this.jobDir(jobId), phase])).toString();
    const state = parseState(out);
    if (state) return state;
    throw new ProviderError(
      'unknown',
      `${where(this.spec)}: unexpected phase state ${JSON.stringify(out.slice(0, 80))}`,
    );
  }

  async kill(jobId: number): Promise<void> {
    await this.run('killing the job', KILL, [this.jobDir(jobId)]);
  }

  async killAll(): Promise<void> {
    await this.run('killing the jobs', KILL_ALL_POD, [ROOT], { timeoutMs: 600_000 });
  }

  async readLog(jobId: number, offset: number, maxBytes = 1 << 20): Promise<{ data: Buffer; offset: number }> {
    const data = await this.run('reading the log', READ_LOG, [`${this.jobDir(jobId)}/log`, offset, maxBytes]);
    return { data, offset: offset + data.length };
  }

  /**
   * Copy a folder to ~/sky_workdir: .skyignore (else .gitignore) patterns and .git excluded; files
   * whose size and mtime match the pod's copy are skipped. Files absent locally are kept there.
   */
  async syncWorkdir(localDir: string): Promise<void> {
    const src = path.resolve(localDir);
    const st = await fsp.stat(src).catch(() => undefined);
    if (!st?.isDirectory()) throw new ProviderError('invalid', `workdir ${src} is not a folder`);
    await this.syncDir(src, WORKDIR);
  }

  /** A file_mounts entry: a local file or folder to `~/...` or an absolute path in the pod. */
  async syncPath(localPath: string, remotePath: string): Promise<void> {
    const src = path.resolve(localPath);
    const st = await fsp.stat(src).catch(() => undefined);
    if (!st) throw new ProviderError('invalid', `file_mounts: ${src} does not exist`);
    const dst = remotePath.startsWith('/') || remotePath.startsWith('~/') ? remotePath : `~/${remotePath}`;
    if (st.isDirectory()) return this.syncDir(src, dst);
    const entry = { name: path.posix.basename(dst), abs: src, size: st.size, mode: st.mode & 0o777 };
    await this.copy([{ ...entry, mtime: Math.floor(st.mtimeMs / 1000) }], path.posix.dirname(dst));
  }

  private async syncDir(src: string, dest: string): Promise<void> {
    const { files, dirs } = await listWorkdir(src);
    const listing = await this.run('listing the workdir', SYNC_PREPARE, [dest], {
      stdin: Buffer.from(dirs.map((d) => `${d}\0`).join('')),
      timeoutMs: 300_000,
    });
    const remote = new Map<string, { size: number; mtime: number }>();
    const parts = listing.toString().split('\0');
    for (let i = 0; i + 2 < parts.length; i += 3) {
      remote.set(parts[i]!, { size: Number(parts[i + 1]), mtime: Math.floor(Number(parts[i + 2])) });
    }
    const changed = files.filter((f) => {
      const r = remote.get(f.rel);
      return !r || r.size !== f.size || r.mtime !== f.mtime;
    });
    if (changed.length)
      await this.copy(
        changed.map((f) => ({ ...f, name: f.rel })),
        dest,
      );
  }

  /** One tar stream into `dir` in the pod; the time allowed grows with its size (1 MB/s). */
  private async copy(entries: TarEntry[], dir: string): Promise<void> {
    const size = tarSize(entries);
    await this.run('copying files', EXTRACT, [dir], {
      stdin: { size, chunks: () => tarStream(entries) },
      timeoutMs: 120_000 + size / 1000,
    });
  }
}
