/**
 * A small in-test infra for workflow tests: fixed offers per region/zone, provision calls that
 * fail with the ProviderError class a test chooses (per call, zone or region) and are recorded,
 * nodes that are real local folders (jobs run as real processes), and preemption on demand.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Providers } from '../../activities/infra/clouds';
import type { InstanceState, Provider, ProvisionRequest } from '../../activities/infra/clouds/provider';
import { LocalRunner } from '../../activities/infra/runners/local';
import type { ClusterHandle, NodeInfo } from '../../core/cluster';
import { type ErrorClass, ProviderError } from '../../core/errors';
import type { Offer } from '../../core/offers';
import type { Resources } from '../../core/task';

export interface FakeOffer {
  region: string;
  zones: string[];
  hourlyPrice: number;
  instanceType?: string;
}

/** One provision call: where it was asked to go, and how it ended. */
export interface ProvisionCall {
  cloud: string;
  region: string;
  zone?: string;
  cluster: string;
  outcome: ErrorClass | 'ok';
}

/** `cloud/region/zone`, the way tests write expected call lists. */
export function where(c: { cloud: string; region: string; zone?: string }): string {
  return [c.cloud, c.region, c.zone].filter(Boolean).join('/');
}

/** Decides a provision call: an error class to fail with, or undefined to succeed. */
export type Plan = (call: { region: string; zone?: string; cluster: string; nth: number }) => ErrorClass | undefined;

export class FakeCloud implements Provider {
  /** every provision call, in order (shared by the clouds of one registry) */
  calls: ProvisionCall[];
  terminated: string[] = [];
  plan: Plan = () => undefined;
  private readonly live = new Map<string, ClusterHandle>();
  private readonly preempted = new Set<string>();

  constructor(
    readonly name: string,
    private readonly offerList: FakeOffer[],
    private readonly root: string,
    calls: ProvisionCall[] = [],
  ) {
    this.calls = calls;
  }

  async check() {
    return { enabled: true };
  }

  async offers(_r: Resources, numNodes: number, candidate: number): Promise<Offer[]> {
    return this.offerList.map((o) => ({
      cloud: this.name,
      region: o.region,
      zones: o.zones,
      instanceType: o.instanceType ?? 'fake.small',
      spot: false,
      hourlyPrice: o.hourlyPrice,
      numNodes,
      vcpus: 4,
      memoryGiB: 8,
      candidate,
    }));
  }

  async provision(req: ProvisionRequest): Promise<ClusterHandle> {
    const { region } = req.offer;
    const zone = req.offer.zones[0];
    const nth = this.calls.filter((c) => c.cloud === this.name).length + 1;
    const cls = this.plan({ region, zone, cluster: req.clusterName, nth });
    this.calls.push({ cloud: this.name, region, zone, cluster: req.clusterName, outcome: cls ?? 'ok' });
    if (cls) throw new ProviderError(cls, `${cls} in ${where({ cloud: this.name, region, zone })}`);
    const nodes: NodeInfo[] = [];
    for (let rank = 0; rank < req.offer.numNodes; rank++) {
      const dir = path.join(this.root, this.name, req.clusterName, String(rank));
      await fsp.mkdir(path.join(dir, 'sky_workdir'), { recursive: true });
      const instanceId = `${req.clusterName}-${region}-${rank}`;
      nodes.push({ rank, instanceId, ip: '127.0.0.1', runner: { kind: 'local', root: dir } });
    }
    const handle: ClusterHandle = {
      clusterName: req.clusterName,
      offer: req.offer,
      zone,
      offerKey: req.offerKey,
      nodes,
    };
    this.live.set(req.clusterName, handle);
    this.preempted.delete(req.clusterName);
    return handle;
  }

  async query(clusterName: string): Promise<InstanceState[]> {
    const h = this.live.get(clusterName);
    const state = this.preempted.has(clusterName)
      ? 'terminated'
      : this.stopped.has(clusterName)
        ? 'stopped'
        : 'running';
    return (h?.nodes ?? []).map((n) => ({ instanceId: n.instanceId, state }));
  }

  async terminate(clusterName: string): Promise<void> {
    this.terminated.push(clusterName);
    const dir = path.join(this.root, this.name, clusterName);
    for (const e of await fsp.readdir(dir).catch(() => [] as string[])) {
      await new LocalRunner(path.join(dir, e)).killAll();
    }
    await fsp.rm(dir, { recursive: true, force: true });
    this.live.delete(clusterName);
  }

  /** Clusters whose nodes are stopped now (jobs killed, folders kept). */
  readonly stopped = new Set<string>();

  async stop(h: ClusterHandle): Promise<void> {
    for (const n of h.nodes) if (n.runner.kind === 'local') await new LocalRunner(n.runner.root).killAll();
    this.stopped.add(h.clusterName);
  }

  async start(h: ClusterHandle): Promise<ClusterHandle> {
    this.stopped.delete(h.clusterName);
    return this.live.get(h.clusterName) ?? h;
  }

  /** The infra takes the cluster's nodes away (a spot preemption). */
  preempt(clusterName: string): void {
    this.preempted.add(clusterName);
  }

  /** The cluster's nodes this cloud runs now, if any. */
  handle(clusterName: string): ClusterHandle | undefined {
    return this.live.get(clusterName);
  }
}

/** A registry of fake clouds sharing one call log, as `createActivities({ providers })` takes it. */
export function fakeProviders(
  root: string,
  clouds: Record<string, FakeOffer[]>,
): { providers: Providers; clouds: Record<string, FakeCloud>; calls: ProvisionCall[] } {
  const calls: ProvisionCall[] = [];
  const list = Object.entries(clouds).map(([name, offers]) => new FakeCloud(name, offers, root, calls));
  const byName = Object.fromEntries(list.map((c) => [c.name, c]));
  return {
    providers: {
      get(cloud) {
        const p = byName[cloud];
        if (!p) throw new Error(`no provider for infra '${cloud}'`);
        return p;
      },
      all: () => list,
    },
    clouds: byName,
    calls,
  };
}

/** One resources candidate that any fake offer satisfies. */
export const ANY_RESOURCES: Resources = { infra: {}, useSpot: false, ports: [], labels: {} };
