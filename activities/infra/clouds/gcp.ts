/**
 * `gcp` infra: Compute Engine VMs through `@google-cloud/compute` (REST transport).
 *
 * Labels are the source of truth: every instance carries `skyrun-cluster`, `skyrun-offer-key`
 * (a label-safe hash of the workflow's offer key), `skyrun-node: head|worker` and `skyrun-rank`.
 * Provision lists what the labels say exists in the zone and adopts it (starting stopped
 * nodes), then inserts only the missing ranks, with deterministic names and a requestId (a UUID
 * derived from offer key, zone and rank), so a retried activity never creates a second VM.
 * Terminate deletes by label, waits the operations and lists again until nothing is left.
 *
 * Credentials and project: application-default credentials; the project comes from
 * `gcp.project` in SkyRun's config, else GOOGLE_CLOUD_PROJECT / CLOUDSDK_CORE_PROJECT, else
 * the ADC's own project. SKYRUN_GCE_ENDPOINT (`http://127.0.0.1:PORT`) points the client at
 * another endpoint speaking the Compute REST API (tests): plain HTTP, no credentials.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClusterHandle, NodeInfo, RunnerSpec } from '../../../core/cluster';
import { type ErrorClass, ProviderError } from '../../../core/errors';
import type { Offer } from '../../../core/offers';
import type { Resources } from '../../../core/task';
import { catalogOffers } from '../catalog';
import { cloudSettings, proxyCommandFor, skyrunSshKey } from '../settings';
import type { InstanceState, Provider, ProvisionContext, ProvisionRequest } from './provider';

export const GCP_LABELS = {
  cluster: 'skyrun-cluster',
  offerKey: 'skyrun-offer-key',
  node: 'skyrun-node',
  rank: 'skyrun-rank',
} as const;

export const DEFAULT_GCP_IMAGE = 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts';

/** GPUs attached to an n1 host (the a2/a3/a4/g2 machine types carry their own). */
const GCP_ACCELERATOR_TYPES: Record<string, string> = {
  t4: 'nvidia-tesla-t4',
  v100: 'nvidia-tesla-v100',
  p100: 'nvidia-tesla-p100',
  p4: 'nvidia-tesla-p4',
  k80: 'nvidia-tesla-k80',
};

/** How long a node may take from insert to answering SSH. */
const READY_TIMEOUT_MS = Number(process.env.SKYRUN_GCP_READY_TIMEOUT_MS ?? 10 * 60_000);

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** A GCP label value (lowercase letters, digits, - and _; at most 63); hashed when changed. */
export function labelValue(s: string): string {
  if (/^[a-z0-9_-]{0,63}$/.test(s)) return s;
  const clean = s
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .slice(0, 54);
  return `${clean}-${sha(s).slice(0, 8)}`;
}

/** A resource name prefix for the cluster: [a-z]([-a-z0-9]*), at most 40 characters. */
function namePrefix(cluster: string): string {
  let n = cluster.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (!/^[a-z]/.test(n)) n = `c${n}`;
  if (n !== cluster || n.length > 40) n = `${n.slice(0, 31).replace(/-+$/, '')}-${sha(cluster).slice(0, 8)}`;
  return n;
}

export function instanceName(cluster: string, offerKey: string, rank: number): string {
  return `${namePrefix(cluster)}-${sha(offerKey).slice(0, 6)}-${rank}`;
}

export function firewallName(cluster: string): string {
  return `skyrun-${namePrefix(cluster)}-ports`;
}

/** GCP requires requestId to be a UUID: a v5-shaped one from the hash of its seed. */
export function requestIdFor(seed: string): string {
  const h = sha(seed);
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// ---------------------------------------------------------------------------------------------
// Error mapping: one table from GCP's codes and reasons (operation errors, HTTP errors) to classes.

const CODE_CLASSES: Record<string, ErrorClass> = {
  ZONE_RESOURCE_POOL_EXHAUSTED: 'capacity',
  ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS: 'capacity',
  resourcePoolExhausted: 'capacity',
  UNSUPPORTED_OPERATION: 'capacity',
  insufficientCapacity: 'capacity',
  STOCKOUT: 'capacity',
  QUOTA_EXCEEDED: 'quota-region',
  quotaExceeded: 'quota-region',
  PERMISSION_DENIED: 'auth',
  forbidden: 'auth',
  UNAUTHENTICATED: 'auth',
  authError: 'auth',
  required: 'auth',
  VPC_NOT_FOUND: 'config',
  PROJECT_NOT_FOUND: 'config',
  accessNotConfigured: 'config',
  SERVICE_DISABLED: 'config',
  rateLimitExceeded: 'transient',
  userRateLimitExceeded: 'transient',
  RATE_LIMIT_EXCEEDED: 'transient',
  RESOURCE_OPERATION_RATE_EXCEEDED: 'transient',
  RESOURCE_NOT_READY: 'transient',
  backendError: 'transient',
  internalError: 'transient',
  INTERNAL_ERROR: 'transient',
  invalid: 'invalid',
  badRequest: 'invalid',
  INVALID_ARGUMENT: 'invalid',
  INVALID_FIELD_VALUE: 'invalid',
  INVALID_USAGE: 'invalid',
};

/** HTTP statuses (and the gRPC codes the client maps them to) when no code is known. */
function statusClass(http: number | undefined, grpc: number | undefined): ErrorClass | undefined {
  if (http === 401 || grpc === 16) return 'auth';
  if (http === 403 || grpc === 7) return 'auth';
  if (http === 429 || grpc === 8) return 'transient';
  if ((http !== undefined && http >= 500) || grpc === 13 || grpc === 14 || grpc === 4) return 'transient';
  if (http === 400 || grpc === 3) return 'invalid';
  return undefined;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

interface GcpErrorInfo {
  codes: string[];
  message: string;
  http?: number;
  grpc?: number;
  network?: boolean;
}

/** The codes, message and status an operation error or a client error carries. */
function errorInfo(e: unknown): GcpErrorInfo {
  const err = e as Record<string, any>;
  const codes: string[] = [];
  const messages: string[] = [];
  // an operation's `error.errors[]` (also what we throw for a failed operation)
  for (const x of (err?.errors ?? err?.error?.errors ?? []) as Array<Record<string, any>>) {
    if (x?.code) codes.push(String(x.code));
    if (x?.reason) codes.push(String(x.reason));
    if (x?.message) messages.push(String(x.message));
  }
  if (typeof err?.reason === 'string') codes.push(err.reason);
  for (const d of (err?.statusDetails ?? []) as Array<Record<string, any>>)
    if (typeof d?.reason === 'string') codes.push(d.reason);
  // a gaxios error (auth library calls): the response body's error
  const body = err?.response?.data?.error;
  if (body && typeof body === 'object') {
    for (const x of (body.errors ?? []) as Array<Record<string, any>>) if (x?.reason) codes.push(String(x.reason));
    if (typeof body.status === 'string') codes.push(body.status);
    if (body.message) messages.push(String(body.message));
  }
  const http =
    typeof err?.response?.status === 'number'
      ? err.response.status
      : typeof err?.status === 'number'
        ? err.status
        : undefined;
  const grpc = typeof err?.code === 'number' ? err.code : undefined;
  if (typeof err?.code === 'string') codes.push(err.code);
  const cause = err?.cause as Record<string, any> | undefined;
  const netCode = [err?.code, cause?.code, err?.errno].find((c) => typeof c === 'string' && NETWORK_CODES.has(c));
  const network = !!netCode || (err instanceof TypeError && /fetch failed/.test(err.message));
  const message = messages.length ? messages.join('; ') : String(err?.message ?? e);
  return { codes, message, http, grpc, network };
}

/** Classify any GCP failure into the taxonomy (a ProviderError passes through). */
export function gcpError(e: unknown, what?: string): ProviderError {
  if (e instanceof ProviderError) return e;
  const info = errorInfo(e);
  let cls: ErrorClass | undefined;
  let code: string | undefined;
  for (const c of info.codes) {
    if (CODE_CLASSES[c]) {
      cls = CODE_CLASSES[c];
      code = c;
      break;
    }
  }
  if (!cls && /\bQuota '?[A-Z0-9_]+'? exceeded/i.test(info.message)) [cls, code] = ['quota-region', 'QUOTA_EXCEEDED'];
  if (!cls && /does not have enough resources available|resource pool exhausted/i.test(info.message))
    [cls, code] = ['capacity', 'ZONE_RESOURCE_POOL_EXHAUSTED'];
  if (!cls && info.network) cls = 'transient';
  cls ??= statusClass(info.http, info.grpc) ?? 'unknown';
  if (cls === 'quota-region' && /\b[A-Z0-9_]+_ALL_REGIONS\b/.test(info.message)) cls = 'quota-cloud';
  const prefix = code ?? info.codes[0];
  const text = `${prefix && !info.message.startsWith(prefix) ? `${prefix}: ` : ''}${info.message}`;
  return new ProviderError(cls, what ? `${what}: ${text}` : text, code ?? info.codes[0]);
}

const isNotFound = (e: unknown) => {
  const info = errorInfo(e);
  return (
    info.http === 404 || info.grpc === 5 || info.codes.includes('notFound') || info.codes.includes('RESOURCE_NOT_FOUND')
  );
};

// ---------------------------------------------------------------------------------------------
// Project, credentials and clients

/** The project: SkyRun's config, the environment, then the ADC file's own. */
function configuredProject(): string | undefined {
  const p = cloudSettings('gcp').project;
  if (typeof p === 'string' && p) return p;
  return (
    process.env.GOOGLE_CLOUD_PROJECT || process.env.CLOUDSDK_CORE_PROJECT || process.env.GCLOUD_PROJECT || undefined
  );
}

/** The ADC file that would be used: GOOGLE_APPLICATION_CREDENTIALS or gcloud's well-known one. */
function adcFile(): string | undefined {
  const env = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  if (env) return env;
  const dir = process.env.CLOUDSDK_CONFIG || path.join(os.homedir(), '.config', 'gcloud');
  const f = path.join(dir, 'application_default_credentials.json');
  return existsSync(f) ? f : undefined;
}

function adcProject(file: string): string | undefined {
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { project_id?: string; quota_project_id?: string };
    return j.project_id || j.quota_project_id || undefined;
  } catch {
    return undefined;
  }
}

function endpoint(): URL | undefined {
  const e = process.env.SKYRUN_GCE_ENDPOINT;
  if (!e) return undefined;
  try {
    return new URL(e);
  } catch {
    throw new ProviderError('config', `SKYRUN_GCE_ENDPOINT=${e}: not a URL (expected http://HOST:PORT)`);
  }
}

type Compute = typeof import('@google-cloud/compute');
interface Clients {
  project: string;
  instances: InstanceType<Compute['InstancesClient']>;
  zoneOps: InstanceType<Compute['ZoneOperationsClient']>;
  firewalls: InstanceType<Compute['FirewallsClient']>;
  globalOps: InstanceType<Compute['GlobalOperationsClient']>;
}

/**
 * An auth client that adds no token and fetches with Node's own fetch: what the REST transport
 * needs (`getRequestHeaders` to be taken as a client, `fetch` to send) for a plain-HTTP endpoint.
 */
const noAuth = {
  universeDomain: 'googleapis.com',
  async getRequestHeaders() {
    return new Headers();
  },
  fetch(url: string | URL, init: RequestInit) {
    return fetch(url, init);
  },
};

let cached: { key: string; clients: Promise<Clients> } | undefined;

async function makeClients(): Promise<Clients> {
  // google-auth-library probes the GCE metadata server (a link-local address) when it finds
  // nothing else; only on GCE VMs is that wanted (gcp: {use_metadata_server: true})
  if (cloudSettings('gcp').use_metadata_server !== true) process.env.METADATA_SERVER_DETECTION ??= 'none';
  const ep = endpoint();
  let project = configuredProject();
  if (!project && !ep) {
    const file = adcFile();
    project = file ? adcProject(file) : undefined;
    if (!project) {
      try {
        const { GoogleAuth } = await import('google-auth-library');
        project = (await new GoogleAuth().getProjectId()) || undefined;
      } catch {
        /* below */
      }
    }
  }
  if (!project) {
    throw new ProviderError('config', 'no GCP project: set gcp.project in the SkyRun config, or GOOGLE_CLOUD_PROJECT');
  }
  const compute: Compute = await import('@google-cloud/compute');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const opts: Record<string, any> = ep
    ? {
        apiEndpoint: ep.hostname,
        port: Number(ep.port || (ep.protocol === 'https:' ? 443 : 80)),
        protocol: ep.protocol.replace(':', ''),
        fallback: true,
        authClient: noAuth,
        projectId: project,
      }
    : { fallback: true, projectId: project };
  return {
    project,
    instances: new compute.InstancesClient({ ...opts }),
    zoneOps: new compute.ZoneOperationsClient({ ...opts }),
    firewalls: new compute.FirewallsClient({ ...opts }),
    globalOps: new compute.GlobalOperationsClient({ ...opts }),
  };
}

/** The clients for the current settings (made again when the endpoint or project changes). */
function clients(): Promise<Clients> {
  const key = `${process.env.SKYRUN_GCE_ENDPOINT ?? ''}|${configuredProject() ?? ''}`;
  if (!cached || cached.key !== key) {
    const p = makeClients();
    cached = { key, clients: p };
    p.catch(() => {
      if (cached?.clients === p) cached = undefined;
    });
  }
  return cached.clients;
}

// ---------------------------------------------------------------------------------------------

/** A Compute Engine instance as the REST API returns it (the fields used here). */
interface GceInstance {
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

interface GceOperation {
  name?: string | null;
  status?: string | null;
  zone?: string | null;
  error?: { errors?: Array<{ code?: string | null; message?: string | null }> | null } | null;
}

const lastPart = (s: string | null | undefined) => (s ?? '').split('/').pop() ?? '';

function stateOf(i: GceInstance): InstanceState {
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

function nodeIp(i: GceInstance): { ip: string; internal: string } {
  const nic = i.networkInterfaces?.[0];
  const nat = nic?.accessConfigs?.find((a) => a.natIP)?.natIP ?? undefined;
  const internal = nic?.networkIP ?? '';
  return { ip: nat ?? internal, internal };
}

async function sshReady(spec: Extract<RunnerSpec, { kind: 'ssh' }>): Promise<string | undefined> {
  try {
    const { SshRunner } = await import('../runners/ssh');
    const r = await new SshRunner(spec).exec(['true']);
    return r.code === 0 ? undefined : `exit ${r.code}: ${r.stderr.trim()}`;
  } catch (e) {
    return (e as Error).message;
  }
}

export class GcpProvider implements Provider {
  readonly name = 'gcp';

  async check() {
    try {
      if (endpoint()) {
        return configuredProject()
          ? { enabled: true }
          : { enabled: false, reason: 'no GCP project: set gcp.project in the SkyRun config, or GOOGLE_CLOUD_PROJECT' };
      }
      const file = adcFile();
      if (!file) {
        return {
          enabled: false,
          reason:
            'no GCP credentials: run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS',
        };
      }
      if (!existsSync(file)) return { enabled: false, reason: `GOOGLE_APPLICATION_CREDENTIALS=${file}: no such file` };
      if (!configuredProject() && !adcProject(file)) {
        return {
          enabled: false,
          reason: 'no GCP project: set gcp.project in the SkyRun config, or GOOGLE_CLOUD_PROJECT',
        };
      }
      return { enabled: true };
    } catch (e) {
      return { enabled: false, reason: (e as Error).message.split('\n')[0] };
    }
  }

  async offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]> {
    if (r.infra.cloud !== undefined && r.infra.cloud !== 'gcp') return [];
    return catalogOffers('gcp', r, numNodes, candidate);
  }

  // ------------------------------------------------------------------------------------------

  private async waitOp(c: Clients, op: GceOperation, zone: string | undefined, ctx?: ProvisionContext): Promise<void> {
    let cur = op;
    for (let round = 0; cur.status !== 'DONE'; round++) {
      if (round > 0 && ctx) await ctx.sleep(Math.min(500 * round, 5000));
      try {
        [cur] = zone
          ? ((await c.zoneOps.wait({ project: c.project, zone, operation: cur.name! })) as unknown as [GceOperation])
          : ((await c.globalOps.wait({ project: c.project, operation: cur.name! })) as unknown as [GceOperation]);
      } catch (e) {
        throw gcpError(e, `waiting for ${cur.name}`);
      }
    }
    if (cur.error?.errors?.length) throw gcpError(cur.error);
  }

  /** Instances of the cluster (by label), in one zone or all of them. */
  private async list(c: Clients, cluster: string, zone?: string): Promise<GceInstance[]> {
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

  private async ensureFirewall(
    c: Clients,
    cluster: string,
    ports: { from: number; to: number }[],
    ctx: ProvisionContext,
  ): Promise<void> {
    const name = firewallName(cluster);
    try {
      await c.firewalls.get({ project: c.project, firewall: name });
      return;
    } catch (e) {
      if (!isNotFound(e)) throw gcpError(e, `firewall ${name}`);
    }
    try {
      const [op] = await c.firewalls.insert({
        project: c.project,
        firewallResource: {
          name,
          network: 'global/networks/default',
          direction: 'INGRESS',
          sourceRanges: ['0.0.0.0/0'],
          targetTags: [namePrefix(cluster)],
          allowed: [
            { IPProtocol: 'tcp', ports: ports.map((p) => (p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`)) },
          ],
        },
      });
      await this.waitOp(c, op.latestResponse as GceOperation, undefined, ctx);
    } catch (e) {
      const pe = gcpError(e, `firewall ${name}`);
      if (pe.code === 'alreadyExists' || /already exists/.test(pe.message)) return;
      throw pe;
    }
  }

  async provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    const c = await clients().catch((e) => Promise.reject(gcpError(e)));
    const { offer } = req;
    if (!offer.zones.length)
      throw new ProviderError('config', `gcp offer ${offer.region} ${offer.instanceType} has no zones`);
    if (req.ports?.length) await this.ensureFirewall(c, req.clusterName, req.ports, ctx);
    let last: ProviderError | undefined;
    for (const zone of offer.zones) {
      try {
        return await this.provisionIn(c, req, zone, ctx);
      } catch (e) {
        const pe = gcpError(e);
        if (pe.errorClass !== 'capacity' || zone === offer.zones[offer.zones.length - 1]) throw pe;
        last = pe;
        // nothing of this attempt stays behind in a zone we leave
        await this.deleteAll(
          c,
          (await this.list(c, req.clusterName, zone)).filter(
            (i) => i.labels?.[GCP_LABELS.offerKey] === labelValue(sha(req.offerKey).slice(0, 16)),
          ),
        );
      }
    }
    throw last!;
  }

  private insertBody(c: Clients, req: ProvisionRequest, zone: string, rank: number) {
    const { offer } = req;
    const settings = cloudSettings('gcp');
    const user = settings.ssh_user ?? 'skyrun';
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.labels)) {
      const key = labelValue(k);
      if (/^[a-z]/.test(key)) labels[key] = labelValue(v);
    }
    Object.assign(labels, {
      [GCP_LABELS.cluster]: labelValue(req.clusterName),
      [GCP_LABELS.offerKey]: labelValue(sha(req.offerKey).slice(0, 16)),
      [GCP_LABELS.node]: rank === 0 ? 'head' : 'worker',
      [GCP_LABELS.rank]: String(rank),
    });
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
      name: instanceName(req.clusterName, req.offerKey, rank),
      machineType: `zones/${zone}/machineTypes/${offer.instanceType}`,
      labels,
      tags: { items: [namePrefix(req.clusterName)] },
      disks: [
        {
          boot: true,
          autoDelete: true,
          initializeParams: { sourceImage: req.imageId ?? DEFAULT_GCP_IMAGE, diskSizeGb: 256 },
        },
      ],
      networkInterfaces: [
        { network: 'global/networks/default', accessConfigs: [{ name: 'External NAT', type: 'ONE_TO_ONE_NAT' }] },
      ],
      metadata: { items: [{ key: 'ssh-keys', value: `${user}:${skyrunSshKey().publicKey}` }] },
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

  /** Converge to offer.numNodes running nodes in one zone, adopting labelled ones. */
  private async provisionIn(
    c: Clients,
    req: ProvisionRequest,
    zone: string,
    ctx: ProvisionContext,
  ): Promise<ClusterHandle> {
    const { offer } = req;
    const machine = offer.instanceType;
    const existing = (await this.list(c, req.clusterName, zone)).filter((i) => lastPart(i.machineType) === machine);
    const byRank = new Map<number, GceInstance>();
    for (const i of existing) {
      const rank = Number(i.labels?.[GCP_LABELS.rank] ?? (i.name ?? '').split('-').pop());
      if (Number.isInteger(rank) && rank >= 0 && rank < offer.numNodes && !byRank.has(rank)) byRank.set(rank, i);
    }
    const names: string[] = [];
    /** each accepted call's operation waiter (undefined: nothing to wait for) */
    const ops: Array<Promise<(() => Promise<void>) | undefined>> = [];
    for (let rank = 0; rank < offer.numNodes; rank++) {
      const have = byRank.get(rank);
      if (have) {
        names.push(have.name!);
        if (['TERMINATED', 'STOPPED', 'SUSPENDED', 'STOPPING', 'SUSPENDING'].includes(have.status ?? '')) {
          ops.push(this.resume(c, have, zone, ctx).then(() => undefined));
        }
        continue;
      }
      const body = this.insertBody(c, req, zone, rank);
      names.push(body.name);
      const requestId = requestIdFor(`${req.offerKey}|${ctx.attemptId}|${zone}|${rank}`);
      ops.push(
        (async () => {
          let op: GceOperation;
          try {
            const [lro] = await c.instances.insert({ project: c.project, zone, requestId, instanceResource: body });
            op = lro.latestResponse as GceOperation;
          } catch (e) {
            // the deterministic name exists already: an earlier attempt's insert, adopted below
            if (errorInfo(e).http === 409 || errorInfo(e).grpc === 6 || errorInfo(e).codes.includes('alreadyExists'))
              return undefined;
            throw gcpError(e, `insert ${body.name}`);
          }
          return () => this.waitOp(c, op, zone, ctx);
        })(),
      );
    }
    // every insert is sent before any is waited on; the names are reported once accepted
    const sent = await Promise.allSettled(ops);
    ctx.heartbeat(names);
    const waited = await Promise.allSettled(
      sent.map((s) => (s.status === 'fulfilled' && s.value ? s.value() : undefined)),
    );
    const failed = [...sent, ...waited].find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw gcpError(failed.reason);

    // RUNNING, then SSH answering, within the deadline
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const settings = cloudSettings('gcp');
    let running: GceInstance[] = [];
    for (let round = 0; ; round++) {
      const now = await this.list(c, req.clusterName, zone);
      const mine = names.map((n) => now.find((i) => i.name === n));
      const gone = names.filter(
        (_, k) => !mine[k] || ['TERMINATED', 'STOPPED', 'SUSPENDED'].includes(mine[k]!.status ?? ''),
      );
      if (gone.length && round > 0) {
        throw new ProviderError(
          'capacity',
          `instances of ${req.clusterName} stopped or vanished while starting in ${zone}: ${gone.join(', ')}`,
        );
      }
      if (mine.every((i) => i?.status === 'RUNNING')) {
        running = mine as GceInstance[];
        break;
      }
      if (Date.now() > deadline)
        throw new ProviderError('capacity', `instances of ${req.clusterName} not RUNNING in ${zone} in time`);
      await ctx.sleep(Math.min(1000 * (round + 1), 5000));
    }
    const nodes: NodeInfo[] = running.map((i, rank) => ({
      rank,
      instanceId: i.name!,
      ip: nodeIp(i).internal || nodeIp(i).ip,
      runner: {
        kind: 'ssh',
        host: nodeIp(i).ip,
        port: 22,
        user: settings.ssh_user ?? 'skyrun',
        identityFile: skyrunSshKey().privateKey,
        proxyCommand: proxyCommandFor('gcp', offer.region),
      },
    }));
    await Promise.all(
      nodes.map(async (n) => {
        for (let round = 0; ; round++) {
          const why = await sshReady(n.runner as Extract<RunnerSpec, { kind: 'ssh' }>);
          if (!why) return;
          if (Date.now() > deadline)
            throw new ProviderError('unknown', `${n.instanceId}: SSH not ready in time: ${why}`);
          await ctx.sleep(Math.min(1000 * (round + 1), 5000));
        }
      }),
    );
    return { clusterName: req.clusterName, offer: { ...offer, zones: [zone] }, zone, offerKey: req.offerKey, nodes };
  }

  private async resume(c: Clients, i: GceInstance, zone: string, ctx: ProvisionContext): Promise<void> {
    for (let round = 0; i.status === 'STOPPING' || i.status === 'SUSPENDING'; round++) {
      if (round > 120) throw new ProviderError('transient', `${i.name} still ${i.status}`);
      await ctx.sleep(1000);
      try {
        [i] = (await c.instances.get({ project: c.project, zone, instance: i.name! })) as unknown as [GceInstance];
      } catch (e) {
        throw gcpError(e, `get ${i.name}`);
      }
    }
    if (i.status === 'RUNNING' || i.status === 'PROVISIONING' || i.status === 'STAGING') return;
    try {
      const call =
        i.status === 'SUSPENDED' ? c.instances.resume.bind(c.instances) : c.instances.start.bind(c.instances);
      const [op] = await call({ project: c.project, zone, instance: i.name! });
      await this.waitOp(c, op.latestResponse as GceOperation, zone, ctx);
    } catch (e) {
      throw gcpError(e, `start ${i.name}`);
    }
  }

  async query(clusterName: string): Promise<InstanceState[]> {
    const c = await clients().catch((e) => Promise.reject(gcpError(e)));
    return (await this.list(c, clusterName)).map(stateOf);
  }

  /** Delete instances and wait for the operations; "not found" is done. */
  private async deleteAll(c: Clients, items: GceInstance[]): Promise<void> {
    await Promise.all(
      items.map(async (i) => {
        const zone = lastPart(i.zone);
        try {
          const [op] = await c.instances.delete({ project: c.project, zone, instance: i.name! });
          await this.waitOp(c, op.latestResponse as GceOperation, zone);
        } catch (e) {
          if (isNotFound(e)) return;
          throw gcpError(e, `delete ${i.name}`);
        }
      }),
    );
  }

  async terminate(clusterName: string): Promise<void> {
    const c = await clients().catch((e) => Promise.reject(gcpError(e)));
    for (let round = 0; ; round++) {
      const left = await this.list(c, clusterName);
      if (!left.length) break;
      if (round >= 10)
        throw new ProviderError(
          'transient',
          `${left.length} instance(s) of ${clusterName} still listed: ${left.map((i) => i.name).join(', ')}`,
        );
      // an instance already being deleted needs no second delete; wait for it to go
      await this.deleteAll(
        c,
        left.filter((i) => i.status !== 'STOPPING' || round > 0),
      );
      if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1000 * round, 5000)));
    }
    const fw = firewallName(clusterName);
    try {
      const [op] = await c.firewalls.delete({ project: c.project, firewall: fw });
      await this.waitOp(c, op.latestResponse as GceOperation, undefined);
    } catch (e) {
      if (!isNotFound(e)) throw gcpError(e, `delete firewall ${fw}`);
    }
  }
}
