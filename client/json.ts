/**
 * `--json`: one stable document per command, printed alone on stdout (messages stay on stderr).
 * The README's "JSON output" documents each schema; fields are only ever added. Times are ISO
 * 8601 strings (null when not yet), durations milliseconds, prices USD per hour; a field with
 * no value is null, never left out.
 */
import type { AcceleratorOffering, KubeGpuContext } from '../activities/infra/inspect';
import type { ClusterInfo, JobRecord } from '../core/cluster';
import { isManagedTerminal, type ManagedJobState, type ManagedTaskState } from '../core/managed';
import type { Offer } from '../core/offers';
import type { ManagedCluster } from './display';

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** Print a document: one line of JSON and a newline. */
export function printJson(doc: object): void {
  console.log(JSON.stringify(doc));
}

/** `status --json`: {clusters: [...]} (managed jobs' clusters with managedJob set). */
export function clustersJson(infos: ClusterInfo[], managed: ManagedCluster[] = []): object {
  const clusters = infos.map((i) => {
    const o = i.handle?.offer;
    return {
      name: i.name,
      status: i.status,
      cloud: o?.cloud ?? null,
      region: o && o.region !== o.cloud ? o.region : null,
      zone: i.handle?.zone ?? null,
      numNodes: i.numNodes,
      instanceType: o?.instanceType ?? null,
      spot: o?.spot ?? null,
      hourlyPrice: o ? o.hourlyPrice * i.numNodes : null,
      autostop: i.autostop && i.autostop.idleMinutes >= 0 ? { ...i.autostop } : null,
      launchedAt: iso(i.launchedAt),
      cleanupBlocked: i.phase === 'CleanupBlocked',
      managedJob: null as number | null,
    };
  });
  for (const m of managed) {
    // resources read `<N>x <cloud/region/zone> <instance type>` (offerLabel)
    const r = /^(\d+)x (\S+) (\S+)/.exec(m.resources);
    const [cloud, region, zone] = r ? r[2]!.split('/') : [];
    clusters.push({
      name: m.clusterName,
      status: m.status === 'RUNNING' ? 'UP' : 'INIT',
      cloud: cloud ?? null,
      region: region && region !== cloud ? region : null,
      zone: zone ?? null,
      numNodes: r ? Number(r[1]) : 1,
      instanceType: r ? r[3]! : null,
      spot: r ? / spot$/.test(m.resources) : null,
      hourlyPrice: null,
      autostop: null,
      launchedAt: iso(m.startedAt),
      cleanupBlocked: false,
      managedJob: m.id,
    });
  }
  return { clusters };
}

function jobJson(j: JobRecord): object {
  return {
    id: j.id,
    name: j.name ?? null,
    status: j.status,
    // a cancelled job's exit code is the kill's: not reported
    exitCode: j.status === 'CANCELLED' ? null : (j.exitCode ?? null),
    submittedAt: iso(j.submittedAt),
    startedAt: iso(j.startedAt),
    endedAt: iso(j.endedAt),
    resources: j.resources,
    failureReason: j.failureReason ?? null,
  };
}

/** `queue --json`: {clusters: [{name, jobs: [...]}]}, newest job first. */
export function queueJson(infos: ClusterInfo[], opts: { skipFinished?: boolean } = {}): object {
  const live = ['PENDING', 'SETTING_UP', 'RUNNING'];
  return {
    clusters: infos.map((i) => ({
      name: i.name,
      jobs: [...i.jobs]
        .filter((j) => !opts.skipFinished || live.includes(j.status))
        .sort((a, b) => b.id - a.id)
        .map(jobJson),
    })),
  };
}

type ManagedRow = Partial<ManagedJobState> & { id: number };

function managedFigures(f: Partial<ManagedJobState | ManagedTaskState>, now: number) {
  const running = f.runningSince ? Math.max(0, (f.endedAt ?? now) - f.runningSince) : 0;
  return {
    status: f.status ?? null,
    resources: f.resources || null,
    startedAt: iso(f.startedAt),
    endedAt: iso(f.endedAt),
    jobDurationMs: f.startedAt ? (f.jobDurationMs ?? 0) + running : null,
    recoveries: f.recoveries ?? 0,
    failureReason: f.failureReason ?? null,
  };
}

/** `jobs queue --json`: {jobs: [...]}, newest first; a pipeline's tasks under `tasks` (else null). */
export function managedJobsJson(jobs: ManagedRow[], opts: { skipFinished?: boolean } = {}, now = Date.now()): object {
  return {
    jobs: jobs
      .filter((j) => !opts.skipFinished || !isManagedTerminal(j.status ?? 'PENDING'))
      .map((j) => ({
        id: j.id,
        name: j.name ?? null,
        ...managedFigures(j, now),
        submittedAt: iso(j.submittedAt),
        totalDurationMs: j.submittedAt ? (j.endedAt ?? now) - j.submittedAt : null,
        cluster: j.clusterName ?? null,
        tasks: j.tasks ? j.tasks.map((t) => ({ name: t.name, ...managedFigures(t, now) })) : null,
      })),
  };
}

/** `show-gpus NAME --json`: {offerings: [...]}, as the table's rows. */
export function offeringsJson(list: AcceleratorOffering[]): object {
  return {
    offerings: list.map((a) => ({
      name: a.name,
      count: a.count,
      cloud: a.cloud,
      instanceType: a.instanceType,
      deviceMemoryGiB: a.deviceMemoryGiB ?? null,
      vcpus: a.vcpus,
      memoryGiB: a.memoryGiB,
      price: a.price ?? null,
      spotPrice: a.spotPrice ?? null,
      region: a.region,
    })),
  };
}

/** `show-gpus --json` (no NAME): {accelerators: [{name, counts: {cloud: [n...]}}]}. */
export function acceleratorCountsJson(list: AcceleratorOffering[]): object {
  const byName = new Map<string, Record<string, number[]>>();
  for (const a of list) {
    const counts = byName.get(a.name) ?? {};
    byName.set(a.name, counts);
    const c = (counts[a.cloud] ??= []);
    if (!c.includes(a.count)) c.push(a.count);
  }
  return {
    accelerators: [...byName].map(([name, counts]) => ({
      name,
      counts: Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v.sort((x, y) => x - y)])),
    })),
  };
}

/** `show-gpus --infra k8s --json`: {kubernetes: [{context, error, gpus, nodes}]}. */
export function kubeGpusJson(contexts: KubeGpuContext[]): object {
  return {
    kubernetes: contexts.map((c) => ({
      context: c.context,
      error: c.error ?? null,
      gpus: c.gpus.map((g) => ({ gpu: g.gpu, requestable: g.requestable, total: g.total, free: g.free ?? null })),
      nodes: c.nodes.map((n) => ({ node: n.node, gpu: n.gpu, total: n.total, free: n.free ?? null })),
    })),
  };
}

/** `check --json`: {infra: [{name, enabled, reason}]}. */
export function checkJson(rows: Array<{ infra: string; enabled: boolean; reason?: string }>): object {
  return { infra: rows.map((r) => ({ name: r.infra, enabled: r.enabled, reason: r.reason ?? null })) };
}

/** `optimize --json`, `launch --dryrun --json`: {numNodes, offers: [...]}, cheapest first, the first chosen. */
export function offersJson(offers: Offer[], numNodes: number): object {
  return {
    numNodes,
    offers: offers.map((o, i) => ({
      cloud: o.cloud,
      region: o.cloud === 'local' ? null : o.region,
      zones: o.zones,
      instanceType: o.instanceType,
      spot: o.spot,
      vcpus: o.vcpus,
      memoryGiB: o.memoryGiB,
      accelerator: o.accelerator ? { name: o.accelerator.name, count: o.accelerator.count } : null,
      hourlyPrice: o.hourlyPrice * numNodes,
      candidate: o.candidate,
      chosen: i === 0,
    })),
  };
}
