/**
 * `local` infra: this machine. A node is a folder under SKYRUN_HOME/clusters/<name>/nodes/<rank>
 * holding a node.json (its tags); jobs run there as detached process groups. Stopping a cluster
 * kills its jobs and keeps the node folders; starting it adopts them again.
 */
import { ProviderError } from '../../../../core/errors';
import { promises as fsp, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClusterHandle, NodeInfo } from '../../../../core/cluster';
import type { Offer } from '../../../../core/offers';
import type { Resources } from '../../../../core/task';
import { homePath } from '../../home';
import { LocalRunner } from '../../runners/local';
import {
  type InstanceState,
  type Provider,
  type ProvisionContext,
  type ProvisionRequest,
  restartRequest,
} from '../provider';

/** The cluster's folder: always a direct child of SKYRUN_HOME/clusters, whatever the name says. */
export function clusterDir(clusterName: string): string {
  const root = homePath('clusters');
  const dir = path.resolve(root, clusterName);
  if (path.dirname(dir) !== root || !clusterName || clusterName.startsWith('.')) {
    throw new ProviderError(
      'invalid',
      `cluster name ${JSON.stringify(clusterName)} does not name a folder inside ${root}`,
    );
  }
  return dir;
}

function nodeDir(clusterName: string, rank: number): string {
  return path.join(clusterDir(clusterName), 'nodes', String(rank));
}

interface NodeTags {
  cluster: string;
  offerKey: string;
  rank: number;
}

async function readTags(dir: string): Promise<NodeTags | undefined> {
  try {
    return JSON.parse(await fsp.readFile(path.join(dir, 'node.json'), 'utf8')) as NodeTags;
  } catch {
    return undefined;
  }
}

/** Kill every job on every node of the cluster. */
async function killAllOn(cluster: string): Promise<void> {
  const nodesDir = path.join(clusterDir(cluster), 'nodes');
  for (const e of await fsp.readdir(nodesDir).catch(() => [] as string[])) {
    await new LocalRunner(path.join(nodesDir, e)).killAll();
  }
}

export class LocalProvider implements Provider {
  readonly name = 'local';

  async check() {
    return { enabled: true };
  }

  machine() {
    return {
      vcpus: os.cpus().length,
      memoryGiB: Math.floor(os.totalmem() / 2 ** 30),
    };
  }

  async offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]> {
    const { cloud, region, zone } = r.infra;
    if (cloud !== undefined && cloud !== 'local') return [];
    if ((region !== undefined && region !== 'local') || zone !== undefined) return [];
    if (r.accelerator || r.instanceType || r.useSpot) return [];
    const m = this.machine();
    const fits = (q: Resources['cpus'], have: number) => !q || (q.orMore ? have >= q.value : q.value <= have);
    if (!fits(r.cpus, m.vcpus) || !fits(r.memory, m.memoryGiB)) return [];
    return [
      {
        cloud: 'local',
        region: 'local',
        zones: [],
        instanceType: `local-${m.vcpus}cpu-${m.memoryGiB}gb`,
        spot: false,
        hourlyPrice: 0,
        numNodes,
        vcpus: m.vcpus,
        memoryGiB: m.memoryGiB,
        candidate,
      },
    ];
  }

  async provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    const nodes: NodeInfo[] = [];
    const ids: string[] = [];
    for (let rank = 0; rank < req.offer.numNodes; rank++) {
      const dir = nodeDir(req.clusterName, rank);
      // adopt a node an earlier try created; create only what is missing
      if (!(await readTags(dir))) {
        await fsp.mkdir(path.join(dir, 'sky_workdir'), { recursive: true });
        const tags: NodeTags = { cluster: req.clusterName, offerKey: req.offerKey, rank };
        await fsp.writeFile(path.join(dir, 'node.json.tmp'), JSON.stringify(tags));
        await fsp.rename(path.join(dir, 'node.json.tmp'), path.join(dir, 'node.json'));
      }
      ids.push(`${req.clusterName}-${rank}`);
      nodes.push({ rank, instanceId: ids[rank]!, ip: '127.0.0.1', runner: { kind: 'local', root: dir } });
    }
    ctx.heartbeat(ids);
    return { clusterName: req.clusterName, offer: req.offer, offerKey: req.offerKey, nodes };
  }

  async query(clusterName: string): Promise<InstanceState[]> {
    const dir = path.join(clusterDir(clusterName), 'nodes');
    const entries = await fsp.readdir(dir).catch(() => [] as string[]);
    const out: InstanceState[] = [];
    for (const e of entries) {
      const tags = await readTags(path.join(dir, e));
      if (tags?.cluster === clusterName) out.push({ instanceId: `${clusterName}-${tags.rank}`, state: 'running' });
    }
    return out;
  }

  /** This machine keeps running: stopping kills the cluster's jobs; its node folders stay. */
  async stop(handle: ClusterHandle): Promise<void> {
    await killAllOn(handle.clusterName);
  }

  start(handle: ClusterHandle, ctx: ProvisionContext): Promise<ClusterHandle> {
    return this.provision(restartRequest(handle), ctx);
  }

  async terminate(clusterName: string): Promise<void> {
    const dir = clusterDir(clusterName);
    // stop whatever still runs on the nodes before their folders go
    await killAllOn(clusterName);
    await fsp.rm(dir, { recursive: true, force: true });
    if (existsSync(dir)) throw new Error(`could not remove ${dir}`);
  }
}
