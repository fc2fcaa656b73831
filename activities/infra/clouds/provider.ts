/**
 * The one provider interface every infra implements (SkyPilot's sky/provision/<cloud> in
 * spirit): offers, provision (idempotent, adopting what tags say exists), query, terminate
 * (by tag, verified). Errors are ProviderErrors carrying a class of the core taxonomy.
 */
import type { ClusterHandle } from '../../../core/cluster';
import type { Offer } from '../../../core/offers';
import type { Resources } from '../../../core/task';

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
}

/** What a provision call may do besides its own work: report ids, wait (cancellably). */
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

export interface Provider {
  readonly name: string;
  /** Whether this infra can be used now, and why not. */
  check(): Promise<{ enabled: boolean; reason?: string }>;
  /** Concrete offers for one resources candidate, cheapest first. */
  offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]>;
  /** Converge to `offer.numNodes` running nodes in one of `offer.zones`, adopting tagged ones. */
  provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle>;
  /** Instances carrying the cluster's tag. */
  query(clusterName: string): Promise<InstanceState[]>;
  /** Terminate every instance tagged for the cluster and wait until they are gone. */
  terminate(clusterName: string): Promise<void>;
}
