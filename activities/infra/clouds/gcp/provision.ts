/**
 * The provisioning steps on Compute Engine. A cluster lives in one zone: run_instances adopts
 * what the labels say exists there (starting stopped nodes), then inserts only the missing
 * ranks, with deterministic names and a requestId (a UUID derived from offer key, attempt, zone
 * and rank), so a retried activity never creates a second VM; on a capacity error in a zone,
 * nothing of the attempt stays behind and the next zone is tried.
 */
import type { ClusterHandle, NodeInfo } from '../../../../core/cluster';
import { ProviderError } from '../../../../core/errors';
import { cloudSettings, proxyCommandFor, skyrunSshKey } from '../../settings';
import type { InstanceLifecycle, Placement, ProvisionContext, ProvisionRequest } from '../provider';
import { ensureFirewalls } from './bootstrap';
import { type Clients, type GceOperation, clients, waitOp } from './client';
import { gcpError, isAlreadyExists } from './errors';
import {
  type GceInstance,
  STOPPED_STATUSES,
  STOPPING_STATUSES,
  deleteInstances,
  insertBody,
  lastPart,
  listInstances,
  nodeIp,
  offerLabel,
  resumeInstance,
} from './instances';
import { GCP_LABELS, instanceName, requestIdFor } from './names';

/** How long a node may take from insert to RUNNING, and then to answering SSH. */
export const READY_TIMEOUT_MS = Number(process.env.SKYRUN_GCP_READY_TIMEOUT_MS ?? 10 * 60_000);

export async function gceClients(): Promise<Clients> {
  return clients().catch((e) => Promise.reject(gcpError(e)));
}

/** The cluster's instances of this machine type in the zone, by rank (what the labels say). */
async function byRank(c: Clients, req: ProvisionRequest, zone: string): Promise<Map<number, GceInstance>> {
  const { offer } = req;
  const existing = (await listInstances(c, req.clusterName, zone)).filter(
    (i) => lastPart(i.machineType) === offer.instanceType,
  );
  const out = new Map<number, GceInstance>();
  for (const i of existing) {
    const rank = Number(i.labels?.[GCP_LABELS.rank] ?? (i.name ?? '').split('-').pop());
    if (Number.isInteger(rank) && rank >= 0 && rank < offer.numNodes && !out.has(rank)) out.set(rank, i);
  }
  return out;
}

/** Insert one rank; undefined when its deterministic name exists already (an earlier attempt's). */
async function insert(
  c: Clients,
  req: ProvisionRequest,
  zone: string,
  rank: number,
  ctx: ProvisionContext,
): Promise<(() => Promise<void>) | undefined> {
  const body = insertBody(req, zone, rank);
  const requestId = requestIdFor(`${req.offerKey}|${ctx.attemptId}|${zone}|${rank}`);
  let op: GceOperation;
  try {
    const [lro] = await c.instances.insert({ project: c.project, zone, requestId, instanceResource: body });
    op = lro.latestResponse as GceOperation;
  } catch (e) {
    if (isAlreadyExists(e)) return undefined;
    throw gcpError(e, `insert ${body.name}`);
  }
  return () => waitOp(c, op, zone, ctx.sleep);
}

/** Adopt, resume and insert in one zone: every call is sent before any is waited on. */
async function runIn(c: Clients, req: ProvisionRequest, zone: string, ctx: ProvisionContext): Promise<void> {
  const have = await byRank(c, req, zone);
  const names: string[] = [];
  /** each accepted call's operation waiter (undefined: nothing to wait for) */
  const ops: Array<Promise<(() => Promise<void>) | undefined>> = [];
  for (let rank = 0; rank < req.offer.numNodes; rank++) {
    const i = have.get(rank);
    names.push(i?.name ?? instanceName(req.clusterName, req.offerKey, rank));
    if (!i) ops.push(insert(c, req, zone, rank, ctx));
    else if ([...STOPPED_STATUSES, ...STOPPING_STATUSES].includes(i.status ?? ''))
      ops.push(resumeInstance(c, i, zone, ctx.sleep).then(() => undefined));
  }
  const sent = await Promise.allSettled(ops);
  ctx.heartbeat(names);
  const waited = await Promise.allSettled(
    sent.map((s) => (s.status === 'fulfilled' && s.value ? s.value() : undefined)),
  );
  const failed = [...sent, ...waited].find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw gcpError(failed.reason);
}

/** Until every rank is RUNNING in the zone; a rank that stops or vanishes meanwhile is a capacity error. */
async function waitRunning(c: Clients, req: ProvisionRequest, zone: string, ctx: ProvisionContext): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (let round = 0; ; round++) {
    const have = await byRank(c, req, zone);
    const mine = Array.from({ length: req.offer.numNodes }, (_, rank) => have.get(rank));
    if (mine.every((i) => i?.status === 'RUNNING')) return;
    const gone = mine.flatMap((i, rank) =>
      !i || STOPPED_STATUSES.includes(i.status ?? '') ? [i?.name ?? `rank ${rank}`] : [],
    );
    if (gone.length && round > 0) {
      throw new ProviderError(
        'capacity',
        `instances of ${req.clusterName} stopped or vanished while starting in ${zone}: ${gone.join(', ')}`,
      );
    }
    if (Date.now() > deadline)
      throw new ProviderError('capacity', `instances of ${req.clusterName} not RUNNING in ${zone} in time`);
    await ctx.sleep(Math.min(1000 * (round + 1), 5000));
  }
}

export const gcpLifecycle: InstanceLifecycle<Clients> = {
  async bootstrap(req, ctx) {
    const c = await gceClients();
    const { offer } = req;
    if (!offer.zones.length)
      throw new ProviderError('config', `gcp offer ${offer.region} ${offer.instanceType} has no zones`);
    await ensureFirewalls(c, req.clusterName, req.ports, ctx.sleep);
    return c;
  },

  async runInstances(req, c, ctx): Promise<Placement> {
    const zones = req.offer.zones;
    for (const zone of zones) {
      try {
        await runIn(c, req, zone, ctx);
        await waitRunning(c, req, zone, ctx);
        return { zone };
      } catch (e) {
        const pe = gcpError(e);
        if (pe.errorClass !== 'capacity' || zone === zones[zones.length - 1]) throw pe;
        // nothing of this attempt stays behind in a zone we leave
        const mine = (await listInstances(c, req.clusterName, zone)).filter(
          (i) => i.labels?.[GCP_LABELS.offerKey] === offerLabel(req.offerKey),
        );
        await deleteInstances(c, mine);
      }
    }
    throw new ProviderError('config', `gcp offer ${req.offer.region} ${req.offer.instanceType} has no zones`);
  },

  async waitInstances(req, { zone }, ctx) {
    await waitRunning(await gceClients(), req, zone, ctx);
  },

  async clusterInfo(req, { zone }): Promise<ClusterHandle> {
    const have = await byRank(await gceClients(), req, zone);
    const user = cloudSettings('gcp').ssh_user ?? 'skyrun';
    const nodes: NodeInfo[] = Array.from({ length: req.offer.numNodes }, (_, rank) => {
      const i = have.get(rank);
      if (!i) throw new ProviderError('capacity', `rank ${rank} of ${req.clusterName} vanished in ${zone}`);
      const { ip, internal } = nodeIp(i);
      return {
        rank,
        instanceId: i.name!,
        ip: internal || ip,
        runner: {
          kind: 'ssh',
          host: ip,
          port: 22,
          user,
          identityFile: skyrunSshKey().privateKey,
          proxyCommand: proxyCommandFor('gcp', req.offer.region),
        },
      };
    });
    const { offer } = req;
    return {
      clusterName: req.clusterName,
      offer: { ...offer, zones: [zone] },
      zone,
      offerKey: req.offerKey,
      nodes,
    };
  },
};
