/**
 * The Kubernetes runner: a node is a pod, reached through the API server's exec (kube-exec.ts).
 * As on SSH nodes, the pod's SkyRun root is ~/.skyrun-node (jobs under jobs/<id>/) and its
 * workdir ~/sky_workdir; phases run detached in the local runner's WRAPPER, started by the SSH
 * runner's own scripts (ssh-scripts.ts), so a worker crash re-attaches and a repeated start adopts.
 * A phase's script and env travel on stdin, never argv: `<phase>.env` is written mode 0600.
 * Files go over as one tar stream into `tar -x` in the pod, as to SSH nodes (file-sync.ts).
 */
import { randomBytes } from 'node:crypto';
import type { GitWorkdir } from '../../../core/cluster';
import { ProviderError } from '../../../core/errors';
import { CLONE_TIMEOUT_MS, GIT_CLONE, cloneArgs, cloneFailure, cloneStdin } from './git-workdir';
import { mountBucket, type NodeMount } from './bucket-mount';
import { podScript, where, type ExecOptions, type KubeSpec } from './kube-exec';
import { WRAPPER } from './local';
import type { DetachedStart, Phase, PhaseState, Runner } from './runner';
import { syncFolder, syncLocalPath, workdirFolder, type RunScript } from './file-sync';
import { KILL, READ_LOG, START_WITH_FILES, STATE, WAIT_STATE, envFile, phaseStateFrom } from './ssh-scripts';

export type { KubeSpec } from './kube-exec';

const ROOT = '~/.skyrun-node/jobs';
const WORKDIR = '~/sky_workdir';

/** $1 the jobs folder: KILL for each job in it. */
const KILL_ALL_POD = `k() {
${KILL}
}
for j in $(ls -- "$1" 2>/dev/null); do case $j in *[!0-9]*) continue;; esac; k "$1/$j"; done`;

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
      START_WITH_FILES,
      [this.jobDir(req.jobId), req.phase, WORKDIR, nonce, script.length, WRAPPER],
      { stdin: Buffer.concat([script, env]) },
    );
  }

  async phaseState(jobId: number, phase: Phase): Promise<PhaseState> {
    const out = (await this.run('reading the phase state', STATE, [this.jobDir(jobId), phase])).toString();
    return phaseStateFrom(out, where(this.spec));
  }

  /** WAIT_STATE (ssh-scripts.ts): the phase's state once it ended, or after `ms`. */
  async waitPhase(jobId: number, phase: Phase, ms: number): Promise<PhaseState> {
    const args = [this.jobDir(jobId), phase, Math.ceil(ms / 10)];
    const out = (await this.run('waiting on the phase', WAIT_STATE, args, { timeoutMs: 3 * ms + 10_000 })).toString();
    return phaseStateFrom(out, where(this.spec));
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
   * Copy a folder to ~/sky_workdir (file-sync.ts): ignored and unchanged files are skipped;
   * files absent locally are kept in the pod.
   */
  async syncWorkdir(localDir: string): Promise<void> {
    await syncFolder(await workdirFolder(localDir), WORKDIR, this.runScript);
  }

  /** GIT_CLONE into ~/sky_workdir in the pod, credentials on stdin. */
  async cloneWorkdir(git: GitWorkdir): Promise<void> {
    const r = await podScript(this.spec, GIT_CLONE, cloneArgs(WORKDIR, git), {
      stdin: cloneStdin(git),
      timeoutMs: CLONE_TIMEOUT_MS,
    });
    if (r.code !== 0) throw cloneFailure(where(this.spec), git, r.code, r.stderr);
  }

  /** A file_mounts entry: a local file or folder to `~/...` or an absolute path in the pod. */
  async syncPath(localPath: string, remotePath: string): Promise<void> {
    const dst = remotePath.startsWith('/') || remotePath.startsWith('~/') ? remotePath : `~/${remotePath}`;
    await syncLocalPath(localPath, dst, this.runScript);
  }

  /** A bucket mounted with rclone in the pod (needs /dev/fuse there: a privileged pod or a FUSE device plugin). */
  async mountBucket(m: NodeMount): Promise<void> {
    await mountBucket(m, where(this.spec), this.runScript);
  }

  private readonly runScript: RunScript = (what, script, args, opts) => this.run(what, script, args, opts);
}
