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
import { bootDiskParams } from './disks';
import {
  DEFAULT_GCP_GPU_IMAGE,
  DEFAULT_GCP_IMAGE,
  GCP_LABELS,
  instanceName,
  labelValue,
  namePrefix,
  sha,
} from './names';

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

/** The cluster's instances and the zones that could not be listed (their instances unknown). */
export interface Listing {
  items: GceInstance[];
  /** zones (or other scopes) the aggregated list could not reach */
  unreachable: string[];
}

/**
 * Instances of the cluster (by label), in some zones or all of them. The all-zones list asks for
 * partial success (https://cloud.google.com/compute/docs/reference/rest/v1/instances/aggregatedList:
 * `returnPartialSuccess`; scopes it could not read come back in `unreachables` and as a per-scope
 * `warning` UNREACHABLE), so one zone down never hides the others; the caller decides what an
 * unreachable zone means (terminate never calls a cluster gone while one is).
 */
export async function listAll(c: Clients, cluster: string, zones?: string[]): Promise<Listing> {
  const filter = `labels.${GCP_LABELS.cluster} = ${labelValue(cluster)}`;
  if (zones) {
    const settled = await Promise.allSettled(
      zones.map(async (zone) => {
        try {
          const [items] = await c.instances.list({ project: c.project, zone, filter });
          return items as GceInstance[];
        } catch (e) {
          throw gcpError(e, `listing instances in ${zone}`);
        }
      }),
    );
    const failed = settled.flatMap((r, n) => (r.status === 'rejected' ? [zones[n]!] : []));
    const items = settled.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
    if (failed.length === zones.length && failed.length) throw (settled[0] as PromiseRejectedResult).reason;
    return { items, unreachable: failed };
  }
  const out: Listing = { items: [], unreachable: [] };
  try {
    for await (const [scope, scoped] of c.instances.aggregatedListAsync(
      { project: c.project, filter, returnPartialSuccess: true },
      { autoPaginate: false },
    )) {
      out.items.push(...((scoped.instances ?? []) as GceInstance[]));
      if (scoped.warning?.code === 'UNREACHABLE') out.unreachable.push(lastPart(scope));
    }
  } catch (e) {
    throw gcpError(e, 'listing instances');
  }
  return out;
}

/** Instances of the cluster (by label), in one zone or all of them; a zone that cannot be listed is an error. */
export async function listInstances(c: Clients, cluster: string, zones?: string | string[]): Promise<GceInstance[]> {
  const { items, unreachable } = await listAll(c, cluster, typeof zones === 'string' ? [zones] : zones);
  if (unreachable.length) {
    throw new ProviderError('transient', `could not list the instances of ${cluster} in ${unreachable.join(', ')}`);
  }
  return items;
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
    // DELETE, as SkyPilot: a STOPped preempted VM keeps its disk billed and its name taken
    // (https://cloud.google.com/compute/docs/instances/spot#preemption-process); recovery launches anew
    Object.assign(scheduling, {
      provisioningModel: 'SPOT',
      instanceTerminationAction: 'DELETE',
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

/** The image: the task's, else Deep Learning VM for GPU nodes (driver installed), else Ubuntu. */
export function imageFor(req: ProvisionRequest): string {
  const own = vmImage(req.imageId);
  if (own) return own;
  const gpu = !!req.offer.accelerator && !/^tpu/i.test(req.offer.accelerator.name);
  const configured = cloudSettings('gcp').gpu_image;
  if (gpu) return typeof configured === 'string' && configured ? configured : DEFAULT_GCP_GPU_IMAGE;
  return DEFAULT_GCP_IMAGE;
}

/** What the instances run as: `gcp.service_account` or the project's default compute service account. */
export function serviceAccounts(): Array<{ email: string; scopes: string[] }> {
  const sa = cloudSettings('gcp').service_account;
  // SkyPilot's scope: all of Cloud's APIs, what the account's IAM roles allow
  return [{ email: typeof sa === 'string' && sa ? sa : 'default', scopes: [CLOUD_PLATFORM_SCOPE] }];
}
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

function instanceLabels(req: ProvisionRequest, zone: string, rank: number): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.labels)) {
    const key = labelValue(k);
    if (/^[a-z]/.test(key)) labels[key] = labelValue(v);
  }
  return Object.assign(labels, {
    [GCP_LABELS.cluster]: labelValue(req.clusterName),
    [GCP_LABELS.offerKey]: offerLabel(req.offerKey),
    [GCP_LABELS.node]: rank === 0 ? 'head' : 'worker',
    [GCP_LABELS.rank]: String(rank),
    [GCP_LABELS.region]: labelValue(req.offer.region),
    [GCP_LABELS.zone]: labelValue(zone),
  });
}

/**
 * The insert body of one rank: deterministic name, labels, SkyRun's SSH key, the image, a boot
 * disk typed for the machine series, the service account.
 */
export function insertBody(req: ProvisionRequest, zone: string, rank: number) {
  const user = cloudSettings('gcp').ssh_user ?? 'skyrun';
  const gpu = !!req.offer.accelerator && !/^tpu/i.test(req.offer.accelerator.name);
  const disk = bootDiskParams(req.offer.instanceType, zone, req.diskSizeGb, req.diskTier);
  return {
    name: instanceName(req.clusterName, req.offerKey, rank),
    machineType: `zones/${zone}/machineTypes/${req.offer.instanceType}`,
    labels: instanceLabels(req, zone, rank),
    tags: { items: [namePrefix(req.clusterName)] },
    disks: [{ boot: true, autoDelete: true, initializeParams: { sourceImage: imageFor(req), ...disk } }],
    networkInterfaces: [
      { network: 'global/networks/default', accessConfigs: [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }] },
    ],
    metadata: {
      items: [
        { key: 'ssh-keys', value: `${user}:${skyrunSshKey().publicKey}` },
        // instance metadata overrides the project's: keep metadata SSH keys working where the
        // project turned OS Login on (https://cloud.google.com/compute/docs/oslogin/set-up-oslogin);
        // an organisation policy (constraints/compute.requireOsLogin) still wins over it
        { key: 'enable-oslogin', value: 'FALSE' },
        // Deep Learning VM images install the NVIDIA driver on first boot when asked
        ...(gpu ? [{ key: 'install-nvidia-driver', value: 'True' }] : []),
      ],
    },
    serviceAccounts: serviceAccounts(),
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

/**
 * Run `fn` on every instance, all of them even when some fail (a zone down, a permission an
 * organisation policy denies in one region); then the first failure, naming every instance that failed.
 */
async function onEach(items: GceInstance[], what: string, fn: (i: GceInstance) => Promise<void>): Promise<void> {
  const settled = await Promise.allSettled(items.map(fn));
  const failed = settled.flatMap((r, n) => (r.status === 'rejected' ? [{ i: items[n]!, e: gcpError(r.reason) }] : []));
  if (!failed.length) return;
  const first = failed[0]!.e;
  const names = failed.map((f) => `${f.i.name} (${lastPart(f.i.zone)})`).join(', ');
  throw new ProviderError(first.errorClass, `could not ${what} ${names}: ${first.message}`, first.code);
}

/** Stop running instances and wait for the operations (disks stay). */
export async function stopInstances(c: Clients, items: GceInstance[], sleep: Sleep): Promise<void> {
  await onEach(items, 'stop', async (i) => {
    if (STOPPED_STATUSES.includes(i.status ?? '') || STOPPING_STATUSES.includes(i.status ?? '')) return;
    const zone = lastPart(i.zone);
    const [op] = await c.instances.stop({ project: c.project, zone, instance: i.name! });
    await waitOp(c, op.latestResponse as GceOperation, zone, sleep);
  });
}

/** Delete instances and wait for the operations; "not found" is done. */
export async function deleteInstances(c: Clients, items: GceInstance[]): Promise<void> {
  await onEach(items, 'delete', async (i) => {
    const zone = lastPart(i.zone);
    try {
      const [op] = await c.instances.delete({ project: c.project, zone, instance: i.name! });
      await waitOp(c, op.latestResponse as GceOperation, zone);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  });
}
