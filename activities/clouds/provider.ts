/**
 * The one provider interface every infra implements (SkyPilot's sky/provision/<cloud> in
 * spirit): offers, provision (idempotent, adopting what tags say exists), query, terminate
 * (by tag, verified). Errors are ProviderErrors carrying a class of the core taxonomy.
 */
import type { ClusterHandle } from '../../core/cluster';
import type { Offer } from '../../core/offers';
import type { Resources } from '../../core/task';

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
