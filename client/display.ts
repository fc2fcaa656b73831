/** The tables the CLI prints: considered resources, accelerators, clusters, job queue. */
import type { AcceleratorOffering, KubeGpuContext } from '../activities/infra/inspect';
import type { ClusterInfo, JobRecord } from '../core/cluster';
import { isManagedTerminal, type ManagedJobState } from '../core/managed';
import type { Offer } from '../core/offers';
import { ago, duration, table } from '../core/table';

const price = (x: number) => (x < 1 ? x.toFixed(3) : x.toFixed(2));
const gib = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

/**
 * The considered-resources table: by default one row per (infra, candidate), its cheapest offer
 * at its best region, as SkyPilot prints it; with `all`, every offer. The first offer is the
 * chosen one. COST is per hour for all nodes.
 */
export function offersTable(offers: Offer[], numNodes: number, opts: { all?: boolean } = {}): string {
  const seen = new Set<string>();
  const rows: string[][] = [];
  offers.forEach((o, i) => {
    const key = o.cloud + '/' + o.candidate;
    if (!opts.all && seen.has(key) && i > 0) return;
    seen.add(key);
    rows.push([
      o.cloud === 'local' ? 'local' : `${o.cloud} (${o.region})`,
      o.instanceType + (o.spot ? '[Spot]' : ''),
      gib(o.vcpus),
      gib(o.memoryGiB),
      o.accelerator ? `${o.accelerator.name}:${o.accelerator.count}` : '-',
      price(o.hourlyPrice * numNodes),
      i === 0 ? '✔' : '',
    ]);
  });
  return [
    `Considered resources (${numNodes} node${numNodes > 1 ? 's' : ''}), minimizing cost:`,
    table(['INFRA', 'INSTANCE', 'vCPUs', 'Mem(GB)', 'GPUS', 'COST ($/hr)', 'CHOSEN'], rows),
  ].join('\n');
}

/** show-gpus without a name: each accelerator and the counts each cloud offers. */
export function acceleratorCountsTable(list: AcceleratorOffering[], clouds: string[]): string {
  const counts = new Map<string, Map<string, Set<number>>>();
  for (const a of list) {
    const perCloud = counts.get(a.name) ?? new Map<string, Set<number>>();
    counts.set(a.name, perCloud);
    const s = perCloud.get(a.cloud) ?? new Set<number>();
    perCloud.set(a.cloud, s);
    s.add(a.count);
  }
  const rows = [...counts].map(([name, perCloud]) => [
    name,
    ...clouds.map((c) => [...(perCloud.get(c) ?? [])].sort((x, y) => x - y).join(', ') || '-'),
  ]);
  return table(['ACCELERATOR', ...clouds.map((c) => `${c.toUpperCase()} COUNTS`)], rows);
}

/** show-gpus --infra k8s: per context, GPUs with requestable counts and free of total; then per node. */
export function kubeGpuTables(contexts: KubeGpuContext[]): string {
  const out: string[] = [];
  const free = (f: number | undefined, total: number) =>
    f === undefined ? `? of ${total} free` : `${f} of ${total} free`;
  for (const c of contexts) {
    out.push(`Kubernetes GPUs (context: ${c.context})`);
    if (c.error) {
      out.push(`  unavailable: ${c.error}`, '');
      continue;
    }
    if (!c.gpus.length) {
      out.push('  no GPU nodes', '');
      continue;
    }
    out.push(
      table(
        ['GPU', 'REQUESTABLE_QTY_PER_NODE', 'UTILIZATION'],
        c.gpus.map((g) => [g.gpu, g.requestable.join(', '), free(g.free, g.total)]),
      ),
      '',
      `Kubernetes per-node GPU availability (context: ${c.context})`,
      table(
        ['NODE', 'GPU', 'UTILIZATION'],
        c.nodes.map((n) => [n.node, n.gpu, free(n.free, n.total)]),
      ),
      '',
    );
  }
  return out.join('\n').trimEnd();
}

/** show-gpus NAME: per cloud and instance type, the prices at its cheapest region. */
export function acceleratorOfferingsTable(list: AcceleratorOffering[]): string {
  return table(
    [
      'GPU',
      'QTY',
      'CLOUD',
      'INSTANCE_TYPE',
      'DEVICE_MEM',
      'vCPUs',
      'HOST_MEM',
      'HOURLY_PRICE',
      'HOURLY_SPOT_PRICE',
      'REGION',
    ],
    list.map((a) => [
      a.name,
      String(a.count),
      a.cloud,
      a.instanceType,
      a.deviceMemoryGiB ? `${gib(a.deviceMemoryGiB)}GB` : '-',
      gib(a.vcpus),
      `${gib(a.memoryGiB)}GB`,
      a.price !== undefined ? `$ ${price(a.price)}` : '-',
      a.spotPrice !== undefined ? `$ ${price(a.spotPrice)}` : '-',
      a.region,
    ]),
  );
}

function autostopText(i: ClusterInfo): string {
  if (!i.autostop || i.autostop.idleMinutes < 0) return '-';
  return `${i.autostop.idleMinutes}m${i.autostop.down ? ' (down)' : ''}`;
}

/** A managed job's cluster as `status` lists it (SkyRun's: it goes when its job ends). */
export type ManagedCluster = Pick<ManagedJobState, 'id' | 'clusterName' | 'status' | 'resources' | 'startedAt'>;

/** The clusters of managed jobs in progress that have one (launched, not yet torn down). */
export function managedClusters(jobs: Array<Partial<ManagedJobState> & { id: number }>): ManagedCluster[] {
  return jobs
    .filter((j) => j.status && !isManagedTerminal(j.status) && j.clusterName && j.resources && j.stage !== 'launch')
    .map((j) => ({
      id: j.id,
      clusterName: j.clusterName!,
      status: j.status!,
      resources: j.resources!,
      startedAt: j.startedAt,
    }))
    .sort((a, b) => a.clusterName.localeCompare(b.clusterName));
}

export function clustersTable(infos: ClusterInfo[], managed: ManagedCluster[] = []): string {
  if (!infos.length && !managed.length) return 'No existing clusters.';
  const rows = infos.map((i) => {
    const o = i.handle?.offer;
    return [
      i.name,
      o ? [o.cloud, o.region !== o.cloud ? o.region : undefined].filter(Boolean).join('/') : '-',
      o ? `${i.numNodes}x ${o.instanceType}${o.spot ? ' spot' : ''}` : `${i.numNodes}x -`,
      i.status + (i.phase === 'CleanupBlocked' ? ' (cleanup blocked)' : ''),
      autostopText(i),
      ago(i.launchedAt),
    ];
  });
  for (const m of managed) {
    // resources read `<N>x <infra> <instance type>` (offerLabel)
    const r = /^(\d+x) (\S+) (.+)$/.exec(m.resources);
    const [cloud, region] = r ? r[2]!.split('/') : [];
    rows.push([
      m.clusterName,
      cloud ? [cloud, region !== cloud ? region : undefined].filter(Boolean).join('/') : '-',
      r ? `${r[1]} ${r[3]}` : m.resources,
      `${m.status === 'RUNNING' ? 'UP' : 'INIT'} (managed job ${m.id})`,
      '-',
      ago(m.startedAt),
    ]);
  }
  const table_ = table(['NAME', 'INFRA', 'RESOURCES', 'STATUS', 'AUTOSTOP', 'LAUNCHED'], rows);
  if (!managed.length) return table_;
  return `${table_}\nClusters marked (managed job N) are SkyRun's own: they go when their job ends (skyrun jobs queue).`;
}

/** A recorded reason as one line: stack frames dropped, lines joined. */
function oneLine(text: string | undefined): string | undefined {
  const out = text
    ?.split('\n')
    .filter((l) => !/^\s+at\s/.test(l))
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
  return out || undefined;
}

/**
 * Why a job did not succeed, as one readable line (a stack trace, if one ever came along, stays
 * in the worker's log): its recorded reason, else what its exit code says for FAILED_SETUP.
 */
export function jobFailureLine(
  j: Pick<JobRecord, 'status' | 'failureReason' | 'exitCode' | 'failedRank'>,
): string | undefined {
  if (j.status === 'SUCCEEDED') return undefined;
  const reason = oneLine(j.failureReason);
  if (reason) return reason;
  if (j.status === 'FAILED_SETUP') {
    const rank = j.failedRank !== undefined ? ` on rank ${j.failedRank}` : '';
    return `the setup commands exited with code ${j.exitCode ?? 'unknown'}${rank}; the run commands did not start`;
  }
  return undefined;
}

export function queueTable(info: ClusterInfo, opts: { skipFinished?: boolean } = {}): string {
  const jobs = [...info.jobs]
    .filter((j) => !opts.skipFinished || ['PENDING', 'SETTING_UP', 'RUNNING'].includes(j.status))
    .sort((a, b) => b.id - a.id);
  const now = Date.now();
  return [
    `Job queue of cluster ${info.name}`,
    table(
      ['ID', 'NAME', 'SUBMITTED', 'STARTED', 'DURATION', 'RESOURCES', 'STATUS'],
      jobs.map((j) => [
        String(j.id),
        j.name ?? '-',
        ago(j.submittedAt, now),
        ago(j.startedAt, now),
        j.startedAt ? duration((j.endedAt ?? now) - j.startedAt) : '-',
        j.resources,
        // a cancelled job's exit code is the kill's (143): no news
        j.status +
          (j.exitCode !== undefined && !['SUCCEEDED', 'CANCELLED'].includes(j.status) ? ` (exit ${j.exitCode})` : ''),
      ]),
    ),
    // why jobs failed (FAILED_DRIVER, FAILED_SETUP, ...), one line each under the table
    ...jobs.flatMap((j) => {
      const why = jobFailureLine(j);
      return why ? [`Job ${j.id} ${j.status}: ${why}`] : [];
    }),
    ...(info.phase === 'CleanupBlocked'
      ? [`Cleanup is blocked: ${info.cleanupError ?? 'the teardown keeps failing'}`]
      : []),
  ].join('\n');
}

export function managedQueueTable(
  jobs: Array<Partial<ManagedJobState> & { id: number }>,
  opts: { skipFinished?: boolean } = {},
): string {
  const now = Date.now();
  const rows = jobs
    .filter((j) => !opts.skipFinished || !isManagedTerminal(j.status ?? 'PENDING'))
    .flatMap((j) =>
      j.tasks ? pipelineRows(j, now) : [[String(j.id), '-', j.name ?? '-', ...managedCells(j, j, now)]],
    );
  if (!rows.length) return 'No managed jobs.';
  return [
    'Managed jobs',
    table(
      ['ID', 'TASK', 'NAME', 'RESOURCES', 'SUBMITTED', 'TOT. DURATION', 'JOB DURATION', '#RECOVERIES', 'STATUS'],
      rows,
    ),
  ].join('\n');
}

type QueueFigures = Pick<
  ManagedJobState,
  'resources' | 'startedAt' | 'endedAt' | 'jobDurationMs' | 'runningSince' | 'recoveries' | 'status' | 'failureReason'
>;

/** RESOURCES ... STATUS of a job, or of a pipeline's task (`times` gives SUBMITTED). */
function managedCells(f: Partial<QueueFigures>, times: { submittedAt?: number }, now: number, task = false): string[] {
  // the clock stops when the job ends (a cancelled job's run may not have closed its interval)
  const running = f.runningSince ? Math.max(0, (f.endedAt ?? now) - f.runningSince) : 0;
  // a task that never started has no duration yet; a job's counts from its submission
  const started = !task || f.startedAt || f.endedAt;
  return [
    f.resources || '-',
    ago(times.submittedAt, now),
    times.submittedAt && started ? duration((f.endedAt ?? now) - times.submittedAt) : '-',
    f.startedAt ? duration((f.jobDurationMs ?? 0) + running) : '-',
    String(f.recoveries ?? 0),
    (f.status ?? '-') + (f.failureReason && f.status !== 'SUCCEEDED' ? ` (${oneLine(f.failureReason)})` : ''),
  ];
}

/** A pipeline as SkyPilot's queue shows it: a row for the job, then one `↳` row per task. */
function pipelineRows(j: Partial<ManagedJobState> & { id: number }, now: number): string[][] {
  const tasks = j.tasks ?? [];
  const sum = (f: (t: (typeof tasks)[number]) => number) => tasks.reduce((n, t) => n + f(t), 0);
  const job = managedCells(
    {
      startedAt: tasks[0]?.startedAt,
      endedAt: j.endedAt,
      jobDurationMs: sum(
        (t) => t.jobDurationMs + (t.runningSince ? Math.max(0, (t.endedAt ?? j.endedAt ?? now) - t.runningSince) : 0),
      ),
      recoveries: sum((t) => t.recoveries),
      status: j.status,
      failureReason: j.failureReason,
    },
    j,
    now,
  );
  job[0] = '-';
  return [
    [String(j.id), '', j.name ?? '-', ...job],
    ...tasks.map((t, i) => [' ↳', String(i), t.name, ...managedCells(t, j, now, true)]),
  ];
}
