/**
 * Following a job from the client: the phase while the cluster comes up, then the job's log
 * read straight from the nodes through the runner (logs never pass through workflow history).
 */
import { StringDecoder } from 'node:string_decoder';
import type { ClusterHandle, ClusterInfo, JobRecord } from '../core/cluster';
import { isTerminal, type JobStatus } from '../core/states';
import { offerLabel } from '../core/offers';
import { isManagedTerminal, taskAttempts, type ManagedJobState, type ManagedJobStatus } from '../core/managed';
import { redactSecrets, type TaskSpec } from '../core/task';
import { nodePhaseState, readNodeLog, readSavedManagedLog } from '../activities/infra/inspect';
import { CleanupBlockedError, type SkyrunClient } from './client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long the cluster workflow's first look at a started phase waits on its nodes (workflows/job-exec.ts). */
const FIRST_LOOK_MS = 2000;

export class LaunchFailedError extends Error {}

export interface FollowOptions {
  /** print phase lines (launch) */
  phases?: boolean;
  follow?: boolean;
  out?: (s: string | Buffer) => void;
  err?: (s: string) => void;
  /** secret values to print as <redacted> */
  secrets?: string[];
}

/**
 * Redacts secret values from a stream read in chunks: a value split across two chunks is caught
 * because the end of a chunk that could begin a secret is held back until the next one.
 */
export class StreamRedactor {
  private held = '';
  private readonly decoder = new StringDecoder('utf8');
  private readonly secrets: Pick<TaskSpec, 'secrets'>;
  constructor(private readonly values: string[]) {
    this.secrets = { secrets: Object.fromEntries(values.map((v, i) => [String(i), v])) };
  }

  /** The text of `data` that is safe to print now. */
  push(data: Buffer | string): string {
    const text = redactSecrets(
      this.held + (typeof data === 'string' ? data : this.decoder.write(data)),
      this.secrets as TaskSpec,
    );
    let hold = 0;
    for (const v of this.values) {
      for (let k = Math.min(v.length - 1, text.length); k > hold; k--) {
        if (text.endsWith(v.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    this.held = text.slice(text.length - hold);
    return text.slice(0, text.length - hold);
  }

  /** What is left at the end of the stream (never a whole secret). */
  end(): string {
    const rest = this.held + this.decoder.end();
    this.held = '';
    return redactSecrets(rest, this.secrets as TaskSpec);
  }
}

type ReadFn = (rank: number, offset: number) => Promise<{ data: Buffer; offset: number }>;

/** Reads each rank's log from where it left off; multi-node output is prefixed per rank. */
class LogTail {
  private offsets = new Map<number, number>();
  private partial = new Map<number, string>();
  private redactors = new Map<number, StreamRedactor>();
  constructor(
    private readonly out: (s: string | Buffer) => void,
    private readonly secrets: string[] = [],
  ) {}

  /** Rank `rank`'s new bytes, secrets redacted (as they were when there are none). */
  private clean(rank: number, data: Buffer): string | Buffer {
    if (!this.secrets.length) return data;
    let r = this.redactors.get(rank);
    if (!r) this.redactors.set(rank, (r = new StreamRedactor(this.secrets)));
    return r.push(data);
  }

  /** Read everything new from `ranks` through `read` (the nodes, or the kept copies). */
  async read(ranks: number, readFn: ReadFn, final: boolean): Promise<void> {
    const multi = ranks > 1;
    for (let rank = 0; rank < ranks; rank++) {
      for (;;) {
        const { data: raw, offset } = await readFn(rank, this.offsets.get(rank) ?? 0);
        this.offsets.set(rank, offset);
        if (!raw.length) {
          if (final && this.redactors.has(rank)) this.flush(rank, multi);
          break;
        }
        const data = this.clean(rank, raw);
        if (!multi) {
          this.out(data);
          continue;
        }
        const text = (this.partial.get(rank) ?? '') + data.toString();
        const lines = text.split('\n');
        this.partial.set(rank, lines.pop()!);
        const prefix = rank === 0 ? '(head, rank=0) ' : `(worker${rank}, rank=${rank}) `;
        for (const l of lines) this.out(prefix + l + '\n');
      }
      if (final && multi && this.partial.get(rank)) {
        this.out(`(rank=${rank}) ${this.partial.get(rank)}\n`);
        this.partial.set(rank, '');
      }
    }
  }

  /** The end of rank `rank`'s stream: what its redactor still holds. */
  private flush(rank: number, multi: boolean): void {
    const rest = this.redactors.get(rank)!.end();
    if (!rest) return;
    if (multi) this.partial.set(rank, (this.partial.get(rank) ?? '') + rest);
    else this.out(rest);
  }
}

/** Read a job's log straight from the cluster's nodes. */
function fromNodes(handle: ClusterHandle, jobId: number): ReadFn {
  return (rank, offset) => readNodeLog(handle.nodes[rank]!.runner, jobId, offset);
}

function phaseLine(info: ClusterInfo): string | undefined {
  switch (info.phase) {
    case 'Optimizing':
      return '⚙︎ Optimizing: choosing where to run';
    case 'Provisioning':
      return `⚙︎ Provisioning ${info.numNodes} node(s)`;
    case 'Up':
      return info.handle
        ? `✓ Cluster '${info.name}' is UP: ${info.numNodes}x ${offerLabel(info.handle.offer)}`
        : undefined;
    default:
      return undefined;
  }
}

/** Prints, as they happen, the cluster's provisioning attempts (failover) and phase changes. */
class PhasePrinter {
  private lastPhase: string | undefined;
  private shownAttempts = 0;
  constructor(private readonly err: (s: string) => void) {}

  show(info: ClusterInfo): void {
    for (const a of info.attempts.slice(this.shownAttempts)) {
      this.err(a.outcome === 'ok' ? `  ✓ ${a.offer}` : `  ✗ ${a.offer}: ${a.errorClass}: ${a.reason}`);
    }
    this.shownAttempts = info.attempts.length;
    if (info.phase === this.lastPhase) return;
    this.lastPhase = info.phase;
    const line = phaseLine(info);
    if (line) this.err(line);
  }
}

async function launchFailure(client: SkyrunClient, cluster: string, info: ClusterInfo): Promise<LaunchFailedError> {
  const f = await client.failure(cluster);
  const cause = (f as { cause?: Error })?.cause;
  return new LaunchFailedError(cause?.message ?? f?.message ?? info.error ?? 'the launch failed');
}

/**
 * Follow a cluster's provisioning (a launch without a job) until it is UP; throws when the
 * launch fails, its cleanup is blocked, or the cluster is gone or not coming up (stopped, torn down).
 */
export async function followProvision(
  client: SkyrunClient,
  cluster: string,
  opts: Pick<FollowOptions, 'err'> = {},
): Promise<ClusterInfo> {
  const phases = new PhasePrinter(opts.err ?? ((s) => process.stderr.write(s + '\n')));
  for (;;) {
    const info = await client.info(cluster, { includeClosed: true });
    if (!info) throw new LaunchFailedError(`cluster '${cluster}' does not exist`);
    phases.show(info);
    if (info.phase === 'Up' && info.handle) return info;
    if (info.phase === 'Failed') throw await launchFailure(client, cluster, info);
    if (info.phase === 'CleanupBlocked') throw new CleanupBlockedError(cluster, info.cleanupError);
    if (['Stopped', 'CleaningUp', 'Terminated'].includes(info.phase))
      throw new LaunchFailedError(`cluster '${cluster}' is ${info.status} (${info.phase}), not coming up`);
    await sleep(250);
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
  const tail = new LogTail(out, opts.secrets);
  const phases = new PhasePrinter(err);
  let lastJobStatus: JobStatus | undefined;
  let lastPoke = 0;
  let looked: { status?: JobStatus; since: number } = { since: Date.now() };
  for (;;) {
    const info = await client.info(cluster, { includeClosed: true });
    if (!info) return undefined;
    if (opts.phases) phases.show(info);
    if (info.phase === 'Failed') throw await launchFailure(client, cluster, info);
    const job: JobRecord | undefined = info.jobs.find((j) => j.id === jobId);
    // a teardown that keeps failing (a failed attempt's, or the cluster's): say so, do not wait on it
    if (info.phase === 'CleanupBlocked' && !(job && isTerminal(job.status))) {
      throw new CleanupBlockedError(cluster, info.cleanupError);
    }
    if (!job) return info.status === 'INIT' ? undefined : undefined;
    if (opts.phases && job.status !== lastJobStatus) {
      lastJobStatus = job.status;
      if (job.status === 'SETTING_UP') err('⚙︎ Running setup on every node');
      if (job.status === 'RUNNING') err(`⚙︎ Job ${jobId} running`);
    }
    if (info.handle && job.status !== 'PENDING') {
      await tail.read(info.handle.nodes.length, fromNodes(info.handle, jobId), isTerminal(job.status));
    }
    if (isTerminal(job.status) || !opts.follow) return job.status;
    if (job.status !== looked.status) looked = { status: job.status, since: Date.now() };
    // a phase's first FIRST_LOOK_MS: the cluster workflow waits on the nodes itself (waitPhase)
    // and sees the end at once, so look often and do not poke
    const early = Date.now() - looked.since < FIRST_LOOK_MS;
    // later, the nodes may know first that a phase ended: tell the workflow to look now
    const active = job.status === 'RUNNING' || job.status === 'SETTING_UP';
    if (!early && info.handle && Date.now() - lastPoke > 1000 && active) {
      const phase = job.status === 'RUNNING' ? 'run' : 'setup';
      const states = await Promise.all(info.handle.nodes.map((n) => nodePhaseState(n.runner, jobId, phase)));
      if (states.some((s) => s.state === 'done' || s.state === 'lost')) {
        lastPoke = Date.now();
        await client.poke(cluster).catch(() => undefined);
      }
    }
    await sleep(early ? 40 : 150);
  }
}

/**
 * Follow a managed job's log across its recoveries: each attempt's log live from its nodes
 * while it runs, then the rest from the copy kept when its cluster went away. A pipeline's
 * tasks follow one another (each attempt belongs to one task); `task` follows that task only.
 * Returns the final status (or the current one without `follow`) of the job, or of the task
 * when one is given; undefined when there is no such job.
 */
export async function followManagedJob(
  client: SkyrunClient,
  id: number,
  opts: FollowOptions & { task?: number } = {},
): Promise<ManagedJobStatus | undefined> {
  const out = opts.out ?? ((s) => process.stdout.write(s));
  const err = opts.err ?? ((s) => process.stderr.write(s + '\n'));
  const tails = new Map<number, LogTail>();
  const tailOf = (a: number) => tails.get(a) ?? tails.set(a, new LogTail(out, opts.secrets)).get(a)!;
  let finished = 0; // attempts whose kept log has been read to its end
  let lastStatus: string | undefined;
  let lastEvent = 0;
  let lastTask: number | undefined;
  const enterTask = (st: ManagedJobState, task: number | undefined): void => {
    if (task === undefined || task === lastTask) return;
    lastTask = task;
    err(`⚙︎ Task ${task} (${st.tasks![task]!.name})`);
  };
  // events in order; a pipeline's are held back until the log has reached their task (with
  // `task`, that task's only)
  const events = (st: ManagedJobState, upTo = Infinity): void => {
    for (; lastEvent < st.events.length; lastEvent++) {
      const e = st.events[lastEvent]!;
      if (e.task !== undefined && e.task > upTo) return;
      if (e.kind === 'succeeded' || (opts.task !== undefined && e.task !== opts.task)) continue;
      enterTask(st, e.task);
      err(`⚙︎ ${e.kind}: ${e.detail}`);
    }
  };
  for (;;) {
    const st = await client.managedJob(id);
    if (!st) return undefined;
    events(st, taskOfAttempt(st, finished + 1));
    const status = opts.task !== undefined ? (st.tasks?.[opts.task]?.status ?? st.status) : st.status;
    if (status !== lastStatus) {
      lastStatus = status;
      const what = opts.task !== undefined ? `Managed job ${id} task ${opts.task}` : `Managed job ${id}`;
      err(`${what}: ${status}${st.recoveries ? ` (recoveries: ${st.recoveries})` : ''}`);
    }
    const terminal = isManagedTerminal(status);
    const [from, to] = opts.task !== undefined ? taskAttempts(st, opts.task) : [1, st.attempt];
    finished = Math.max(finished, from - 1);
    for (let a = finished + 1; a <= to; a++) {
      const task = taskOfAttempt(st, a);
      events(st, task);
      enterTask(st, task);
      const ranks = task !== undefined ? st.tasks![task]!.numNodes : (st.handle?.nodes.length ?? 1);
      const live = a === st.attempt && st.handle && !isManagedTerminal(st.status);
      if (live) {
        await tailOf(a).read(ranks, fromNodes(st.handle!, a), false);
      } else {
        await tailOf(a).read(ranks, (rank, offset) => readSavedManagedLog(id, a, rank, offset), true);
        finished = a;
      }
    }
    if (terminal) events(st);
    if (terminal || !opts.follow) return status;
    await sleep(300);
  }
}

/** The pipeline task attempt `a` belongs to; undefined for a job of one task. */
function taskOfAttempt(st: ManagedJobState, a: number): number | undefined {
  if (!st.tasks) return undefined;
  let owner = 0;
  st.tasks.forEach((t, i) => {
    if (t.firstAttempt !== undefined && t.firstAttempt < a) owner = i;
  });
  return owner;
}
