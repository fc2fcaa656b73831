/**
 * Compute Engine instances by label: the instance model, listing, the insert body, and
 * start/stop/delete with their operations waited for.
 */
import { vmImage } from '../../../../core/docker';
import { ProviderError } from '../../../../core/errors';
import { cloudSettings, skyrunSshKey } from '../../settings';
import type { InstanceState, ProvisionRequest } from '../provider';
import { type Clients, type GceOperation, waitOp } from './client';
import { gcpError, isNotFound } from './errors';
import { DEFAULT_GCP_IMAGE, GCP_LABELS, instanceName, labelValue, namePrefix, sha } from './names';

type Sleep = (ms: number) => Promise<void>;

/** GPUs attached to an n1 host (the a2/a3/a4/g2 machine types carry their own). */
const GCP_ACCELERATOR_TYPES: Record<string, string> = {
  t4: 'nvidia-tesla-t4',
  v100: 'nvidia-tesla-v100',
  p100: 'nvidia-tesla-p100',
  p4: 'nvidia-tesla-p4',
  k80: 'nvidia-tesla-k80',
};

/** Statuses of an instance that is not running and will not run without a start. */
export const STOPPED_STATUSES = ['TERMINATED', 'STOPPED', 'SUSPENDED'];
export const STOPPING_STATUSES = ['STOPPING', 'SUSPENDING'];

/** A Compute Engine instance as the REST API returns it (the fields used here). */
export interface GceInstance {
  name?: string | null;
  zone?: string | null;
  status?: string | null;
  machineType?: string | null;
  labels?: Record<string, string> | null;
  lastStopTimestamp?: string | null;
  scheduling?: { provisioningModel?: string | null } | null;
  networkInterfaces?: Array<{
    networkIP?: string | null;
    accessConfigs?: Array<{ natIP?: string | null }> | null;
  }> | null;
}

export const lastPart = (s: string | null | undefined) => (s ?? '').split('/').pop() ?? '';

export function stateOf(i: GceInstance): InstanceState {
  const id = i.name ?? '';
  const spot = i.scheduling?.provisioningModel === 'SPOT';
  switch (i.status) {
    case 'PROVISIONING':
    case 'STAGING':
    case 'REPAIRING':
      return { instanceId: id, state: 'pending' };
    case 'RUNNING':
      return { instanceId: id, state: 'running' };
    case 'STOPPING':
    case 'SUSPENDING':
      return { instanceId: id, state: 'stopping' };
    case 'TERMINATED':
      if (spot && i.lastStopTimestamp) return { instanceId: id, state: 'stopped', reason: 'preempted' };
      return { instanceId: id, state: 'stopped' };
    default:
      return { instanceId: id, state: 'stopped' };
  }
}

export function nodeIp(i: GceInstance): { ip: string; internal: string } {
  const nic = i.networkInterfaces?.[0];
  const nat = nic?.accessConfigs?.find((a) => a.natIP)?.natIP ?? undefined;
  const internal = nic?.networkIP ?? '';
  return { ip: nat ?? internal, internal };
}

/** The label every instance of one offer key carries (a label-safe hash of the key). */
export function offerLabel(offerKey: string): string {
  return labelValue(sha(offerKey).slice(0, 16));
}

/** Instances of the cluster (by label), in one zone or all of them. */
export async function listInstances(c: Clients, cluster: string, zone?: string): Promise<GceInstance[]> {
  const filter = `labels.${GCP_LABELS.cluster} = ${labelValue(cluster)}`;
  try {
    if (zone) {
      const [items] = await c.instances.list({ project: c.project, zone, filter });
      return items as GceInstance[];
    }
    const out: GceInstance[] = [];
    for await (const [, scoped] of c.instances.aggregatedListAsync(
      { project: c.project, filter },
      { autoPaginate: false },
    )) {
      out.push(...((scoped.instances ?? []) as GceInstance[]));
    }
    return out;
  } catch (e) {
    throw gcpError(e, 'listing instances');
  }
}

/** GPUs and scheduling of the offer, as GCP wants them for this machine type. */
function acceleratorsAndScheduling(req: ProvisionRequest, zone: string): Record<string, unknown> {
  const { offer } = req;
  const acc = offer.accelerator;
  const attached = acc && /^n1-/.test(offer.instanceType) ? GCP_ACCELERATOR_TYPES[acc.name.toLowerCase()] : undefined;
  if (acc && /^n1-/.test(offer.instanceType) && !attached) {
    throw new ProviderError('invalid', `gcp: no accelerator type known for ${acc.name} on ${offer.instanceType}`);
  }
  const scheduling: Record<string, unknown> = {};
  if (acc) Object.assign(scheduling, { onHostMaintenance: 'TERMINATE', automaticRestart: !offer.spot });
  if (offer.spot) {
    Object.assign(scheduling, {
      provisioningModel: 'SPOT',
      instanceTerminationAction: 'STOP',
      onHostMaintenance: 'TERMINATE',
      automaticRestart: false,
    });
  }
  return {
    ...(attached
      ? {
          guestAccelerators: [
            { acceleratorType: `zones/${zone}/acceleratorTypes/${attached}`, acceleratorCount: acc!.count },
          ],
        }
      : {}),
    ...(Object.keys(scheduling).length ? { scheduling } : {}),
  };
}

/** The insert body of one rank: deterministic name, labels, SkyRun's SSH key, the default image. */
export function insertBody(req: ProvisionRequest, zone: string, rank: number) {
  const user = cloudSettings('gcp').ssh_user ?? 'skyrun';
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.labels)) {
    const key = labelValue(k);
    if (/^[a-z]/.test(key)) labels[key] = labelValue(v);
  }
  Object.assign(labels, {
    [GCP_LABELS.cluster]: labelValue(req.clusterName),
    [GCP_LABELS.offerKey]: offerLabel(req.offerKey),
    [GCP_LABELS.node]: rank === 0 ? 'head' : 'worker',
    [GCP_LABELS.rank]: String(rank),
  });
  return {
    name: instanceName(req.clusterName, req.offerKey, rank),
    machineType: `zones/${zone}/machineTypes/${req.offer.instanceType}`,
    labels,
    tags: { items: [namePrefix(req.clusterName)] },
    disks: [
      {
        boot: true,
        autoDelete: true,
        initializeParams: { sourceImage: vmImage(req.imageId) ?? DEFAULT_GCP_IMAGE, diskSizeGb: 256 },
      },
    ],
    networkInterfaces: [
      { network: 'global/networks/default', accessConfigs: [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }] },
    ],
    metadata: { items: [{ key: 'ssh-keys', value: `${user}:${skyrunSshKey().publicKey}` }] },
    ...acceleratorsAndScheduling(req, zone),
  };
}

/** Start a stopped (or resume a suspended) instance, waiting out STOPPING first. */
export async function resumeInstance(c: Clients, i: GceInstance, zone: string, sleep: Sleep): Promise<void> {
  for (let round = 0; STOPPING_STATUSES.includes(i.status ?? ''); round++) {
    if (round > 120) throw new ProviderError('transient', `${i.name} still ${i.status}`);
    await sleep(1000);
    try {
      [i] = (await c.instances.get({ project: c.project, zone, instance: i.name! })) as unknown as [GceInstance];
    } catch (e) {
      throw gcpError(e, `get ${i.name}`);
    }
  }
  if (!STOPPED_STATUSES.includes(i.status ?? '')) return;
  try {
    const call = i.status === 'SUSPENDED' ? c.instances.resume.bind(c.instances) : c.instances.start.bind(c.instances);
    const [op] = await call({ project: c.project, zone, instance: i.name! });
    await waitOp(c, op.latestResponse as GceOperation, zone, sleep);
  } catch (e) {
    throw gcpError(e, `start ${i.name}`);
  }
}

/** Stop running instances and wait for the operations (disks stay). */
export async function stopInstances(c: Clients, items: GceInstance[], sleep: Sleep): Promise<void> {
  await Promise.all(
    items.map(async (i) => {
      if (STOPPED_STATUSES.includes(i.status ?? '') || STOPPING_STATUSES.includes(i.status ?? '')) return;
      const zone = lastPart(i.zone);
      try {
        const [op] = await c.instances.stop({ project: c.project, zone, instance: i.name! });
        await waitOp(c, op.latestResponse as GceOperation, zone, sleep);
      } catch (e) {
        throw gcpError(e, `stop ${i.name}`);
      }
    }),
  );
}

/** Delete instances and wait for the operations; "not found" is done. */
export async function deleteInstances(c: Clients, items: GceInstance[]): Promise<void> {
  await Promise.all(
    items.map(async (i) => {
      const zone = lastPart(i.zone);
      try {
        const [op] = await c.instances.delete({ project: c.project, zone, instance: i.name! });
        await waitOp(c, op.latestResponse as GceOperation, zone);
      } catch (e) {
        if (isNotFound(e)) return;
        throw gcpError(e, `delete ${i.name}`);
      }
    }),
  );
}
