/**
 * What the CLI may use of the infra layer directly, without going through a workflow. Everything
 * here reads local state or asks an infra whether it is usable; the only writes are SkyRun's own
 * files under SKYRUN_HOME (the catalog cache, the sim's configuration). Cloud resources are
 * created, changed and removed only by activities, inside workflows.
 *
 * Why the CLI may do these without a workflow: `check`, `optimize`, `show-gpus` and the table
 * printed before a launch must answer before anything starts (an invalid or unplaceable task
 * starts no workflow) and with no worker running; logs are read from the nodes, never through
 * workflow history; a managed job's saved logs outlive its cluster and its worker.
 *
 * Each function loads its module on first use, so a command pays only for what it touches.
 */
import type { Offer } from '../../core/offers';
import type { ClusterHandle, JobPhase, RunnerSpec } from '../../core/cluster';
import type { Endpoint } from './clouds/provider';
import type { OptimizeRequest, OptimizeResult } from './optimizer';

export type { AcceleratorOffering } from './catalog';
export type { OptimizeRequest, OptimizeResult } from './optimizer';
export type { SimInstance } from './clouds/sim';
export type { Endpoint } from './clouds/provider';
export type { KubeGpuContext } from './clouds/kubernetes/gpus';
export { homePath, skyrunHome } from './home';
export { hostKeyRecord } from './runners/host-keys';

/** Ranked offers of every enabled infra (or, `catalog`, of every catalog cloud as if enabled). */
export async function planOffers(req: OptimizeRequest, opts: { catalog?: boolean } = {}): Promise<OptimizeResult> {
  const { optimize } = await import('./optimizer');
  let providers;
  if (opts.catalog) {
    const { catalogOnlyProvider, loadCatalog } = await import('./catalog');
    providers = (await loadCatalog()).clouds().map((c) => catalogOnlyProvider(c));
  }
  return optimize(req, { providers });
}

export async function noOfferMessage(req: OptimizeRequest, plan: OptimizeResult): Promise<string> {
  return (await import('./optimizer')).noOfferMessage(req, plan);
}

export async function loadCatalog() {
  return (await import('./catalog')).loadCatalog();
}

export async function updateCatalog(opts: Parameters<typeof import('./catalog').updateCatalog>[0]) {
  return (await import('./catalog')).updateCatalog(opts);
}

/** Each infra's name, and whether it can be used here (a broken credential is a reason, not a throw). */
export async function checkInfra(only: string[] = []): Promise<{
  known: string[];
  rows: Array<{ infra: string; enabled: boolean; reason?: string }>;
}> {
  const { createProviders } = await import('./clouds');
  const all = createProviders().all();
  const rows = await Promise.all(
    all
      .filter((p) => !only.length || only.includes(p.name))
      .map(async (p) => {
        const c = await p.check().catch((e: Error) => ({ enabled: false, reason: e.message.split('\n')[0] }));
        // an enabled infra may say what it found (kubernetes: its contexts)
        return { infra: p.name, enabled: c.enabled, reason: c.enabled ? c.reason : (c.reason ?? '') };
      }),
  );
  return { known: all.map((p) => p.name), rows };
}

/** GPUs per allowed Kubernetes context (all, or `context`), with total and free counts. */
export async function kubernetesGpus(context?: string) {
  return (await import('./clouds/kubernetes/gpus')).kubeGpuAvailability(context);
}

/** A chunk of a job's log on one node, from `offset`. */
export async function readNodeLog(node: RunnerSpec, jobId: number, offset: number) {
  return (await import('./runners')).runnerFor(node).readLog(jobId, offset);
}

/** A job phase's state on one node. */
export async function nodePhaseState(node: RunnerSpec, jobId: number, phase: JobPhase) {
  return (await import('./runners')).runnerFor(node).phaseState(jobId, phase);
}

/**
 * `skyrun ssh` into a kubernetes node (a pod, through the API server's exec): a shell with a TTY
 * when stdin is a terminal, or `command`; resolves with its exit code.
 */
export async function podShell(
  node: Extract<RunnerSpec, { kind: 'kube' }>,
  command: string[],
  io: import('./runners/kube-shell').ShellIo = process,
): Promise<number> {
  return (await import('./runners/kube-shell')).podShell(node, command, io);
}

/** A chunk of a managed job's saved log (one attempt, one rank). */
export async function readSavedManagedLog(managedJobId: number, attempt: number, rank: number, offset: number) {
  const { managedLogPath, readManagedLog } = await import('./managed-logs');
  return readManagedLog(managedLogPath(managedJobId, attempt, rank), offset);
}

/**
 * Where the cluster's ports (all, or `port` alone) are reachable: the infra's own answer (a
 * Kubernetes Service), else the head node's address (SSH host for the clouds).
 */
export async function clusterEndpoints(handle: ClusterHandle, port?: number): Promise<Endpoint[]> {
  const ranges = handle.ports ?? [];
  if (port !== undefined && !ranges.some((r) => port >= r.from && port <= r.to)) {
    const have = ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(', ') || 'none';
    throw new Error(`port ${port} is not open on cluster '${handle.clusterName}' (its ports: ${have})`);
  }
  const wanted = port !== undefined ? [{ from: port, to: port }] : ranges;
  if (!wanted.length) return [];
  const { createProviders, portNumbers } = await import('./clouds');
  const provider = createProviders().get(handle.offer.cloud);
  if (provider.endpoints) return provider.endpoints(handle, wanted);
  const head = handle.nodes[0];
  const host = head?.runner.kind === 'ssh' ? head.runner.host : head?.ip;
  return portNumbers(wanted).map((p) =>
    host ? { port: p, address: `${host}:${p}` } : { port: p, note: 'no head node' },
  );
}

export async function simConfigFile(): Promise<string> {
  return (await import('./clouds/sim')).simConfigFile();
}

export async function readSimConfig() {
  return (await import('./clouds/sim')).readSimConfig();
}

/**
 * Checks a sim configuration's text (schema, bounds) before `sim enable` installs it; throws
 * TaskValidationError naming each problem's line and column.
 */
export async function checkSimConfig(text: string, file: string) {
  return (await import('./clouds/sim/config')).parseSimConfig(text, file);
}

export async function readSimInstances() {
  return (await import('./clouds/sim')).readSimInstances();
}

export type { Offer };
export { configLayers } from './settings';
