/**
 * `sim` infra: a simulated cloud for tests and demos. Its regions, zones, instance types and
 * prices come from a catalog cloud (aws by default); capacity limits and faults come from
 * SKYRUN_HOME/sim.yaml, re-read on every call so a test can change them live. Its instances
 * live in SKYRUN_HOME/sim/state.json (outside any worker, so a killed worker cannot hide a
 * leak), and each instance is a local node folder that runs commands for real.
 * The sim is enabled when sim.yaml exists.
 */
import { promises as fsp, existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ClusterHandle, NodeInfo } from '../../../core/cluster';
import { ProviderError } from '../../../core/errors';
import type { Offer } from '../../../core/offers';
import type { Resources } from '../../../core/task';
import { loadCatalog } from '../catalog';
import { skyrunHome } from '../home';
import { LocalRunner } from '../runners/local';
import type { InstanceState, Provider, ProvisionContext, ProvisionRequest } from './provider';

export interface SimConfig {
  /** the catalog cloud whose regions, zones, types and prices the sim mirrors */
  catalog_cloud: string;
  /** `region/zone` or `region`: no capacity there (InsufficientInstanceCapacity) */
  capacity_errors: string[];
  /** `region/zone` -> max live instances there; beyond it, capacity errors */
  zone_limits: Record<string, number>;
  /** regions whose quota is exhausted (VcpuLimitExceeded) */
  quota_errors: string[];
  /** the whole cloud's quota is exhausted (GPUS_ALL_REGIONS) */
  cloud_quota_error: boolean;
  auth_error: boolean;
  /** every create fails as an invalid request */
  invalid_error: boolean;
  /** a create throws something the taxonomy does not know */
  unknown_error_zones: string[];
  /** fraction of API calls that fail with a throttling error */
  transient_error_rate: number;
  /** the first N provision calls fail with a throttling error (deterministic) */
  transient_failures: number;
  create_delay_ms: number;
  /** spot instances are preempted this long after they are created */
  preempt_after_ms: number | null;
  /** each cluster (by name) is preempted at most this many times (null: no limit) */
  max_preemptions: number | null;
}

const DEFAULTS: SimConfig = {
  catalog_cloud: 'aws',
  capacity_errors: [],
  zone_limits: {},
  quota_errors: [],
  cloud_quota_error: false,
  auth_error: false,
  invalid_error: false,
  unknown_error_zones: [],
  transient_error_rate: 0,
  transient_failures: 0,
  create_delay_ms: 0,
  preempt_after_ms: null,
  max_preemptions: null,
};

export interface SimInstance {
  id: string;
  cluster: string;
  offerKey: string;
  /** idempotency token: `${offerKey}:${rank}` */
  token: string;
  rank: number;
  region: string;
  zone: string;
  instanceType: string;
  spot: boolean;
  state: 'running' | 'terminated';
  reason?: string;
  createdAt: number;
  preemptAt?: number;
}

interface SimState {
  seq: number;
  instances: SimInstance[];
  /** provision calls so far (for transient_failures) */
  calls?: number;
}

export function simConfigFile(home = skyrunHome()): string {
  return path.join(home, 'sim.yaml');
}

export function simStateFile(home = skyrunHome()): string {
  return path.join(home, 'sim', 'state.json');
}

export function readSimConfig(home = skyrunHome()): SimConfig | undefined {
  const file = simConfigFile(home);
  if (!existsSync(file)) return undefined;
  const raw = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Partial<SimConfig>;
  return { ...DEFAULTS, ...raw };
}

/** The sim's instances as its "cloud console" shows them (tests count leaks with this). */
export function readSimInstances(home = skyrunHome()): SimInstance[] {
  try {
    return (JSON.parse(readFileSync(simStateFile(home), 'utf8')) as SimState).instances;
  } catch {
    return [];
  }
}

function nodeRoot(id: string): string {
  return path.join(skyrunHome(), 'sim', 'nodes', id);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Serialise every state change through a lock folder; a holder that died is broken after 10 s. */
async function withState<T>(fn: (s: SimState) => Promise<T> | T): Promise<T> {
  const file = simStateFile();
  const lock = file + '.lock';
  await fsp.mkdir(path.dirname(file), { recursive: true });
  for (;;) {
    try {
      await fsp.mkdir(lock);
      break;
    } catch {
      const st = await fsp.stat(lock).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > 10_000) await fsp.rm(lock, { recursive: true, force: true });
      await sleep(5 + Math.random() * 20);
    }
  }
  try {
    let state: SimState;
    try {
      state = JSON.parse(await fsp.readFile(file, 'utf8')) as SimState;
    } catch {
      state = { seq: 0, instances: [] };
    }
    await preempt(state);
    const out = await fn(state);
    await fsp.writeFile(file + '.tmp', JSON.stringify(state));
    await fsp.rename(file + '.tmp', file);
    return out;
  } finally {
    await fsp.rm(lock, { recursive: true, force: true });
  }
}

/** Spot instances past their preemption time vanish, with whatever ran on them. */
async function preempt(state: SimState): Promise<void> {
  const now = Date.now();
  for (const i of state.instances) {
    if (i.state === 'running' && i.preemptAt !== undefined && i.preemptAt <= now) {
      i.state = 'terminated';
      i.reason = 'preempted';
      await killNode(i.id);
    }
  }
}

async function killNode(id: string): Promise<void> {
  await new LocalRunner(nodeRoot(id)).killAll();
}

/** `*` (everywhere), a region, or `region/zone`. */
function matchesPlace(list: string[], region: string, zone: string): boolean {
  return list.includes('*') || list.includes(region) || list.includes(`${region}/${zone}`);
}

export class SimProvider implements Provider {
  readonly name = 'sim';

  async check() {
    const cfg = readSimConfig();
    if (!cfg) return { enabled: false, reason: `no ${simConfigFile()} (it configures the simulated cloud)` };
    return { enabled: true };
  }

  async offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]> {
    const cfg = readSimConfig();
    if (!cfg) return [];
    if (r.infra.cloud !== undefined && r.infra.cloud !== 'sim') return [];
    const catalog = await loadCatalog();
    return catalog.offers(cfg.catalog_cloud, r, numNodes, candidate, { asCloud: 'sim' });
  }

  /** The faults the config injects into an API call. */
  private faults(cfg: SimConfig): void {
    if (cfg.transient_error_rate > 0 && Math.random() < cfg.transient_error_rate) {
      throw new ProviderError('transient', 'RequestLimitExceeded: Request limit exceeded.', 'RequestLimitExceeded');
    }
    if (cfg.auth_error) {
      throw new ProviderError(
        'auth',
        'AuthFailure: AWS was not able to validate the provided access credentials',
        'AuthFailure',
      );
    }
  }

  async provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    const cfg = readSimConfig();
    if (!cfg) throw new ProviderError('config', `the sim infra is not configured (${simConfigFile()})`);
    this.faults(cfg);
    if (cfg.transient_failures > 0) {
      const call = await withState((s) => (s.calls = (s.calls ?? 0) + 1));
      if (call <= cfg.transient_failures) {
        throw new ProviderError(
          'transient',
          `RequestLimitExceeded: Request limit exceeded (call ${call}).`,
          'RequestLimitExceeded',
        );
      }
    }
    const { offer } = req;
    if (cfg.invalid_error) {
      throw new ProviderError(
        'invalid',
        `InvalidParameterValue: instance type ${offer.instanceType} is not valid for this image`,
        'InvalidParameterValue',
      );
    }
    if (cfg.cloud_quota_error) {
      throw new ProviderError('quota-cloud', "QUOTA_EXCEEDED: Quota 'GPUS_ALL_REGIONS' exceeded.", 'QUOTA_EXCEEDED');
    }
    if (cfg.quota_errors.includes(offer.region)) {
      throw new ProviderError(
        'quota-region',
        `VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit allows in ${offer.region}.`,
        'VcpuLimitExceeded',
      );
    }
    const zones = offer.zones.length ? offer.zones : [offer.region];
    let lastError: ProviderError | undefined;
    for (const zone of zones) {
      if (cfg.unknown_error_zones.includes(`${offer.region}/${zone}`)) {
        throw new Error(`sim: the zone ${zone} answered something nobody understands`);
      }
      if (matchesPlace(cfg.capacity_errors, offer.region, zone)) {
        lastError = new ProviderError(
          'capacity',
          `InsufficientInstanceCapacity: We currently do not have sufficient ${offer.instanceType} capacity in the Availability Zone you requested (${zone}).`,
          'InsufficientInstanceCapacity',
        );
        continue;
      }
      const created = await this.createIn(req, cfg, zone, ctx);
      if (created) return created;
      lastError = new ProviderError(
        'capacity',
        `InsufficientInstanceCapacity: zone ${zone} is at its limit of ${cfg.zone_limits[`${offer.region}/${zone}`]} instances.`,
        'InsufficientInstanceCapacity',
      );
    }
    throw lastError!;
  }

  /** Adopt what the tags say exists, create only what is missing; undefined when the zone is full. */
  private async createIn(
    req: ProvisionRequest,
    cfg: SimConfig,
    zone: string,
    ctx: ProvisionContext,
  ): Promise<ClusterHandle | undefined> {
    const { offer } = req;
    const ids = await withState((s) => {
      const preempted = s.instances.filter((i) => i.cluster === req.clusterName && i.reason === 'preempted').length;
      const preemptLeft = cfg.max_preemptions === null ? Infinity : cfg.max_preemptions - preempted;
      const mine = s.instances.filter(
        (i) => i.state === 'running' && i.cluster === req.clusterName && i.offerKey === req.offerKey,
      );
      const missing = offer.numNodes - mine.length;
      const limit = cfg.zone_limits[`${offer.region}/${zone}`];
      const live = s.instances.filter(
        (i) => i.state === 'running' && i.region === offer.region && i.zone === zone,
      ).length;
      if (missing > 0 && limit !== undefined && live + missing > limit) return undefined;
      const have = new Set(mine.map((i) => i.rank));
      for (let rank = 0; rank < offer.numNodes; rank++) {
        if (have.has(rank)) continue;
        const now = Date.now();
        s.instances.push({
          id: `i-${(++s.seq).toString(16).padStart(8, '0')}`,
          cluster: req.clusterName,
          offerKey: req.offerKey,
          token: `${req.offerKey}:${rank}`,
          rank,
          region: offer.region,
          zone,
          instanceType: offer.instanceType,
          spot: offer.spot,
          state: 'running',
          createdAt: now,
          preemptAt:
            offer.spot && cfg.preempt_after_ms !== null && preemptLeft > 0 ? now + cfg.preempt_after_ms : undefined,
        });
      }
      return s.instances
        .filter((i) => i.state === 'running' && i.cluster === req.clusterName && i.offerKey === req.offerKey)
        .sort((a, b) => a.rank - b.rank)
        .map((i) => i.id);
    });
    if (!ids) return undefined;
    ctx.heartbeat(ids);
    if (cfg.create_delay_ms > 0) await ctx.sleep(cfg.create_delay_ms);
    const nodes: NodeInfo[] = [];
    for (const [rank, id] of ids.entries()) {
      const root = nodeRoot(id);
      await fsp.mkdir(path.join(root, 'sky_workdir'), { recursive: true });
      nodes.push({ rank, instanceId: id, ip: '127.0.0.1', runner: { kind: 'local', root } });
    }
    // an instance that vanished meanwhile (preempted, or torn down) fails this attempt
    const alive = new Set(
      (await this.query(req.clusterName)).filter((i) => i.state === 'running').map((i) => i.instanceId),
    );
    if (!ids.every((id) => alive.has(id))) {
      throw new ProviderError('capacity', `instances of ${req.clusterName} vanished while starting in ${zone}`);
    }
    return { clusterName: req.clusterName, offer: { ...offer, zones: [zone] }, zone, offerKey: req.offerKey, nodes };
  }

  async query(clusterName: string): Promise<InstanceState[]> {
    const view = (instances: SimInstance[]) =>
      instances
        .filter((i) => i.cluster === clusterName && (i.state === 'running' || i.reason === 'preempted'))
        .map((i) => ({ instanceId: i.id, state: i.state, reason: i.reason }));
    // the common case reads without the lock (the file is replaced atomically); only a
    // preemption that is due for this cluster needs the locked path that carries it out
    const now = Date.now();
    const mine = readSimInstances().filter((i) => i.cluster === clusterName);
    if (!mine.some((i) => i.state === 'running' && i.preemptAt !== undefined && i.preemptAt <= now)) return view(mine);
    return withState((s) => view(s.instances));
  }

  async terminate(clusterName: string): Promise<void> {
    const cfg = readSimConfig() ?? DEFAULTS;
    if (cfg.transient_error_rate > 0 && Math.random() < cfg.transient_error_rate) {
      throw new ProviderError('transient', 'RequestLimitExceeded: Request limit exceeded.', 'RequestLimitExceeded');
    }
    const gone = await withState(async (s) => {
      const ids: string[] = [];
      for (const i of s.instances) {
        if (i.cluster !== clusterName) continue;
        if (i.state === 'running') {
          i.state = 'terminated';
          i.reason = 'terminated';
        }
        ids.push(i.id);
      }
      return ids;
    });
    for (const id of gone) {
      await killNode(id);
      await fsp.rm(nodeRoot(id), { recursive: true, force: true });
    }
    // verified: nothing of the cluster is left running
    const left = readSimInstances().filter((i) => i.cluster === clusterName && i.state === 'running');
    if (left.length) throw new ProviderError('transient', `${left.length} instance(s) of ${clusterName} still running`);
  }
}
