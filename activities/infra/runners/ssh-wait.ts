/**
 * The one "wait until SSH answers" of every infra: a node counts as reachable once a short
 * command runs there. Until a VM has booted and cloud-init has installed the key, connections
 * are refused, time out, or (briefly) reject the key, so those are retried until a deadline;
 * the last reason is in the error then. ssh2 is loaded only when an SSH node is waited for.
 * A node that answers but lacks tools SkyRun runs there is refused at once, naming them
 * (SshRunner.preflight, learnt on the same connection: no extra round trip).
 */
import type { NodeInfo, RunnerSpec } from '../../../core/cluster';
import { ProviderError, type ErrorClass } from '../../../core/errors';
import { MISSING_TOOLS } from './ssh-scripts';

type SshSpec = Extract<RunnerSpec, { kind: 'ssh' }>;

export interface SshWaitOptions {
  /** Sleep between tries (the activity's cancellable sleep). */
  sleep(ms: number): Promise<void>;
  /** Give up after this long (default 5 min). */
  timeoutMs?: number;
  /** What to run (default `true`); it must exit 0. */
  command?: string[];
  /** First pause between tries; it grows to 5 s. */
  pollMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/** Why the node does not answer yet (undefined: it does), and whether that may pass. */
async function tryOnce(
  spec: SshSpec,
  command: string[],
): Promise<{ why: string; retry: boolean; errorClass: ErrorClass; refused?: ProviderError } | undefined> {
  try {
    const { SshRunner } = await import('./ssh');
    const runner = new SshRunner(spec);
    const r = await runner.exec(command);
    if (r.code === 0) {
      await runner.preflight();
      return undefined;
    }
    return {
      why: `\`${command.join(' ')}\` exited ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`,
      retry: true,
      errorClass: 'unknown',
    };
  } catch (e) {
    const err = e instanceof ProviderError ? e : new ProviderError('transient', String((e as Error)?.message ?? e));
    if (err.code === MISSING_TOOLS) return { why: err.message, retry: false, errorClass: err.errorClass, refused: err };
    // refused, timed out, key not (yet) accepted: a booting node; anything else will not pass
    // (a refused host key is 'config': it will not pass, and it blocks the infra)
    const retry = err.errorClass === 'transient' || err.errorClass === 'auth';
    return { why: err.message, retry, errorClass: err.errorClass };
  }
}

/**
 * Until `command` runs on the node; a ProviderError('unknown') naming the last reason at the
 * deadline, or at once when it will not pass ('config' for a refused host key).
 */
export async function waitForSsh(spec: SshSpec, opts: SshWaitOptions): Promise<void> {
  const command = opts.command ?? ['true'];
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  for (let round = 1; ; round++) {
    const failed = await tryOnce(spec, command);
    if (!failed) return;
    if (failed.refused) throw failed.refused; // a host without the tools SkyRun needs: as it says
    // a 'config' error (a refused host key, an unreadable identity file) stays one: it blocks the infra
    if (!failed.retry && failed.errorClass === 'config') throw new ProviderError('config', failed.why);
    if (!failed.retry || Date.now() > deadline) {
      const after = failed.retry ? ` after ${Math.round(timeoutMs / 1000)} s` : '';
      throw new ProviderError(
        'unknown',
        `ssh ${spec.user}@${spec.host}:${spec.port}: not ready${after}: ${failed.why}`,
      );
    }
    await opts.sleep(Math.min((opts.pollMs ?? 1000) * round, 5000));
  }
}

/** waitForSsh on every node reached over SSH, in parallel (local nodes need no wait). */
export async function waitForSshOnNodes(nodes: NodeInfo[], opts: SshWaitOptions): Promise<void> {
  await Promise.all(nodes.map((n) => (n.runner.kind === 'ssh' ? waitForSsh(n.runner, opts) : undefined)));
}
