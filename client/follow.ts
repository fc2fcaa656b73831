/**
 * Following a job from the client: the phase while the cluster comes up, then the job's log
 * read straight from the nodes through the runner (logs never pass through workflow history).
 */
import type { ClusterHandle, ClusterInfo, JobRecord } from '../core/cluster';
import { isTerminal, type JobStatus } from '../core/states';
import { runnerFor } from '../activities/runners';
import { offerLabel } from '../core/offers';
import type { SkyrunClient } from './client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LaunchFailedError extends Error {}

export interface FollowOptions {
  /** print phase lines (launch) */
  phases?: boolean;
  follow?: boolean;
  out?: (s: string | Buffer) => void;
  err?: (s: string) => void;
}

/** Reads each rank's log from where it left off; multi-node output is prefixed per rank. */
class LogTail {
  private offsets = new Map<number, number>();
  private partial = new Map<number, string>();
  constructor(
    private readonly jobId: number,
    private readonly out: (s: string | Buffer) => void,
  ) {}

  async read(handle: ClusterHandle, final: boolean): Promise<void> {
    const multi = handle.nodes.length > 1;
    for (const n of handle.nodes) {
      const runner = runnerFor(n.runner);
      for (;;) {
        const { data, offset } = await runner.readLog(this.jobId, this.offsets.get(n.rank) ?? 0);
        this.offsets.set(n.rank, offset);
        if (!data.length) break;
        if (!multi) {
          this.out(data);
          continue;
        }
        const text = (this.partial.get(n.rank) ?? '') + data.toString('utf8');
        const lines = text.split('\n');
        this.partial.set(n.rank, lines.pop()!);
        const prefix = n.rank === 0 ? '(head, rank=0) ' : `(worker${n.rank}, rank=${n.rank}) `;
        for (const l of lines) this.out(prefix + l + '\n');
      }
      if (final && multi && this.partial.get(n.rank)) {
        this.out(`(rank=${n.rank}) ${this.partial.get(n.rank)}\n`);
        this.partial.set(n.rank, '');
      }
    }
  }
}

function phaseLine(info: ClusterInfo): string | undefined {
  switch (info.phase) {
    case 'Optimizing':
      return '⚙︎ Optimizing: choosing where to run';
    case 'Provisioning':
      return `⚙︎ Provisioning ${info.numNodes} node(s)`;
    case 'Up':
      return info.handle ? `✓ Cluster '${info.name}' is UP: ${info.numNodes}x ${offerLabel(info.handle.offer)}` : undefined;
    default:
      return undefined;
  }
}

/**
 * Follow job `jobId` until it ends (or only print what is there, without `follow`).
 * Returns the job's final status; undefined when the job does not exist.
 */
export async function followJob(
  client: SkyrunClient,
  cluster: string,
  jobId: number,
  opts: FollowOptions = {},
): Promise<JobStatus | undefined> {
  const out = opts.out ?? ((s) => process.stdout.write(s));
  const err = opts.err ?? ((s) => process.stderr.write(s + '\n'));
  const tail = new LogTail(jobId, out);
  let lastPhase: string | undefined;
  let shownAttempts = 0;
  let lastJobStatus: JobStatus | undefined;
  let lastPoke = 0;
  for (;;) {
    const info = await client.info(cluster, { includeClosed: true });
    if (!info) return undefined;
    if (opts.phases) {
      // failover as it happens: one line per provisioning attempt
      for (const a of info.attempts.slice(shownAttempts)) {
        err(a.outcome === 'ok' ? `  ✓ ${a.offer}` : `  ✗ ${a.offer}: ${a.errorClass}: ${a.reason}`);
      }
      shownAttempts = info.attempts.length;
    }
    if (opts.phases && info.phase !== lastPhase) {
      lastPhase = info.phase;
      const line = phaseLine(info);
      if (line) err(line);
    }
    if (info.phase === 'Failed') {
      const f = await client.failure(cluster);
      const cause = (f as { cause?: Error })?.cause;
      throw new LaunchFailedError(cause?.message ?? f?.message ?? info.error ?? 'the launch failed');
    }
    const job: JobRecord | undefined = info.jobs.find((j) => j.id === jobId);
    if (!job) return info.status === 'INIT' ? undefined : undefined;
    if (opts.phases && job.status !== lastJobStatus) {
      lastJobStatus = job.status;
      if (job.status === 'SETTING_UP') err('⚙︎ Running setup on every node');
      if (job.status === 'RUNNING') err(`⚙︎ Job ${jobId} running`);
    }
    if (info.handle && job.status !== 'PENDING') await tail.read(info.handle, isTerminal(job.status));
    if (isTerminal(job.status) || !opts.follow) return job.status;
    // the nodes may know first that a phase ended: tell the workflow to look now
    if (info.handle && Date.now() - lastPoke > 1000 && (job.status === 'RUNNING' || job.status === 'SETTING_UP')) {
      const phase = job.status === 'RUNNING' ? 'run' : 'setup';
      const states = await Promise.all(info.handle.nodes.map((n) => runnerFor(n.runner).phaseState(jobId, phase)));
      if (states.some((s) => s.state === 'done' || s.state === 'lost')) {
        lastPoke = Date.now();
        await client.poke(cluster).catch(() => undefined);
      }
    }
    await sleep(150);
  }
}
