/**
 * The one provider interface every infra implements, shaped like SkyPilot's provisioner
 * (sky/provision/<cloud>/instance.py): bootstrap (keys, security groups, firewall), run
 * instances (idempotent, adopting what tags say exists, resuming stopped ones), wait until they
 * run, cluster info (the handle), then SSH readiness (runners/ssh-wait.ts); query, terminate (by
 * tag, verified); and stop/start where the infra can. `provisionCluster` (lifecycle.ts) composes
 * the steps of an `InstanceLifecycle`. Errors are ProviderErrors carrying a class of the core
 * taxonomy. Providers never import Temporal: what they need comes in through the context.
 */
import type { ClusterHandle } from '../../../core/cluster';
import { ProviderError } from '../../../core/errors';
import type { Offer } from '../../../core/offers';
import type { KubePodSpec, Resources } from '../../../core/task';

export interface ProvisionRequest {
  clusterName: string;
  offer: Offer;
  /** `${workflowId}#${offerIndex}`: tags resources and seeds the provider's idempotency token */
  offerKey: string;
  labels: Record<string, string>;
  /** ports the task opens to the world (a firewall rule / security group per cluster) */
  ports?: { from: number; to: number }[];
  /** the task's image for this offer's region (the infra's default image when absent) */
  imageId?: string;
  /** the task's Kubernetes pod settings (volumes, pod_config); only the kubernetes provider reads them */
  kubernetes?: KubePodSpec;
  /** the task's `disk_size` (GB) and `disk_tier`; the infra's defaults when absent */
  diskSizeGb?: number;
  diskTier?: Resources['diskTier'];
}

/** What a long provider call may do besides its own work: report ids, wait (cancellably). */
export interface ProvisionContext {
  /** Record instance ids as soon as they exist (the activity heartbeats them). */
  heartbeat(instanceIds: string[]): void;
  /** Sleep, rejecting when the activity is cancelled. */
  sleep(ms: number): Promise<void>;
  /**
   * Seeds the provider's idempotency tokens besides the offer key: the same for every retry of
   * one provision attempt, different for a later attempt ('' when there is none, e.g. in tests).
   */
  attemptId: string;
}

/**
 * Who holds which host of an SSH node pool. Kept durably outside any worker (the pool's own
 * workflow, in production); the provider receives it, it never acts as a Temporal client itself.
 */
export interface HostLedger {
  /** Give `count` of `hosts` to `cluster` (the ones it holds first); a ProviderError('capacity') when too few are free. */
  reserve(pool: string, cluster: string, hosts: string[], count: number): Promise<string[]>;
  /** host -> cluster, for every host given out; {} for a pool never used. */
  assignments(pool: string): Promise<Record<string, string>>;
  /** Give back every host the cluster holds in the pool. */
  release(pool: string, cluster: string): Promise<void>;
}

export interface InstanceState {
  instanceId: string;
  state: 'pending' | 'running' | 'stopping' | 'stopped' | 'terminated';
  /** why it is gone, when the infra says (e.g. spot preemption) */
  reason?: string;
}

/** Where run_instances put the cluster (what wait and cluster info look at). */
export interface Placement {
  /** the zone the nodes are in ('' for an infra without zones) */
  zone: string;
  /** the ids run_instances adopted or created, when the infra waits on them (not on what a listing shows) */
  instanceIds?: string[];
}

/**
 * SkyPilot's per-cloud provisioning steps. Each is idempotent: a retried activity runs them
 * all again and converges on the same instances.
 */
export interface InstanceLifecycle<Boot = void> {
  /** Per-account and per-cluster setup: key pair, security group or firewall, image, config checks. */
  bootstrap(req: ProvisionRequest, ctx: ProvisionContext): Promise<Boot>;
  /** Adopt the tagged instances (starting stopped ones), create only the missing ones; zone failover inside. */
  runInstances(req: ProvisionRequest, boot: Boot, ctx: ProvisionContext): Promise<Placement>;
  /** Until every node runs; one that dies meanwhile fails the attempt (a capacity error). */
  waitInstances(req: ProvisionRequest, placement: Placement, ctx: ProvisionContext): Promise<void>;
  /** The handle: nodes head first, their IPs and how to reach them. */
  clusterInfo(req: ProvisionRequest, placement: Placement): Promise<ClusterHandle>;
}

/** Where one port of a cluster is reachable (`skyrun status --endpoints`). */
export interface Endpoint {
  port: number;
  /** `host:port`; undefined while it has no address yet (a load balancer being set up) */
  address?: string;
  /** e.g. "reachable from inside the cluster only" */
  note?: string;
}

/** Port ranges as single ports, ascending; a ProviderError('invalid') past `max`. */
export function portNumbers(ranges: Array<{ from: number; to: number }>, max = 1000): number[] {
  const out = new Set<number>();
  for (const r of ranges) {
    if (r.to - r.from + out.size >= max) throw new ProviderError('invalid', `ports: more than ${max} ports asked`);
    for (let p = r.from; p <= r.to; p++) out.add(p);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Where a cluster's nodes are, when its handle says: a query goes straight there instead of
 * scanning every region (a worker restarted after the launch knows only what the handle holds).
 */
export interface ClusterWhere {
  regions?: string[];
  zones?: string[];
}

/** Where the handle's nodes are. */
export function whereOf(handle: ClusterHandle): ClusterWhere {
  return { regions: [handle.offer.region], ...(handle.zone ? { zones: [handle.zone] } : {}) };
}

/** The instances of the handle's cluster, where the handle says they are. */
export function queryHandle(provider: Provider, handle: ClusterHandle): Promise<InstanceState[]> {
  return provider.query(handle.clusterName, whereOf(handle));
}

export interface Provider {
  readonly name: string;
  /** Whether this infra can be used now, and why not. */
  check(): Promise<{ enabled: boolean; reason?: string }>;
  /** Concrete offers for one resources candidate, cheapest first. */
  offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]>;
  /** Converge to `offer.numNodes` running nodes in one of `offer.zones`, adopting tagged ones. */
  provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle>;
  /** Instances carrying the cluster's tag (stopped ones as `stopped`); only `where` when given. */
  query(clusterName: string, where?: ClusterWhere): Promise<InstanceState[]>;
  /** Terminate every instance tagged for the cluster (stopped ones too) and wait until they are gone. */
  terminate(clusterName: string): Promise<void>;

  // ---- optional: stop and start (SkyPilot's stop_instances, and run_instances resuming) ----

  /** Why this cluster cannot be stopped (e.g. spot instances); undefined when it can. */
  stopRefusal?(handle: ClusterHandle): string | undefined;
  /** Stop the cluster's nodes and kill their jobs; disks (node folders, hosts) are kept. */
  stop?(handle: ClusterHandle, ctx: ProvisionContext): Promise<void>;
  /** Start the stopped nodes again (the same instances); the handle as they run now (IPs may change). */
  start?(handle: ClusterHandle, ctx: ProvisionContext): Promise<ClusterHandle>;

  /** Where the cluster's ports are reachable, when not at the head node's address (e.g. a Kubernetes Service). */
  endpoints?(handle: ClusterHandle, ports: Array<{ from: number; to: number }>): Promise<Endpoint[]>;
}

/** Why `provider` cannot stop this cluster (SkyPilot's wording), or undefined when it can. */
export function stopRefusal(provider: Provider, handle: ClusterHandle): string | undefined {
  const why = !provider.stop || !provider.start ? `Stopping is not supported on ${provider.name}` : undefined;
  const refusal = why ?? provider.stopRefusal?.(handle);
  return refusal
    ? `${refusal}: cluster '${handle.clusterName}' stays UP (take it down with: skyrun down ${handle.clusterName})`
    : undefined;
}

/** The refusal of clouds whose spot instances cannot be stopped (as in SkyPilot). */
export function spotStopRefusal(handle: ClusterHandle): string | undefined {
  return handle.offer.spot ? `Stopping spot instances is not supported on ${handle.offer.cloud}` : undefined;
}

/** The request that starts a stopped cluster again: its own offer and key, so its instances are adopted. */
export function restartRequest(handle: ClusterHandle): ProvisionRequest {
  return {
    clusterName: handle.clusterName,
    offer: handle.offer,
    offerKey: handle.offerKey,
    labels: {},
    ...(handle.ports ? { ports: handle.ports } : {}),
  };
}
