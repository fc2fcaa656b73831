/**
 * `ssh` infra: node pools of machines you already have, declared in
 * SKYRUN_HOME/ssh_node_pools.yaml (SkyPilot's format, plus `port`, `proxy_command`, per-host
 * `accelerators` and host key pins). A task asks for one with `infra: ssh/<pool>`. Hosts are
 * handed out by the pool's own workflow (`ssh-pool/<pool>`), so two clusters never get the same host and a failed
 * launch gives its hosts back; not enough free hosts is a capacity error, and failover moves on.
 * Stopping a cluster kills its jobs and keeps its hosts (still reserved); starting it adopts them.
 *
 *   my-pool:
 *     user: ubuntu
 *     identity_file: ~/.ssh/id_ed25519
 *     hosts:
 *       - 10.0.0.11
 *       - {ip: 10.0.0.12, port: 2222, accelerators: A100:8}
 *       - {ip: 10.0.0.13, host_key_fingerprint: "SHA256:..."}
 *
 * A host must have what SkyRun runs there (a POSIX sh, bash and the tools in NODE_TOOLS,
 * runners/ssh-scripts.ts); one that lacks any is refused naming them, and the pool's next free
 * host is tried. Host keys are trusted on first use per cluster (runners/host-keys.ts); `host_key_fingerprint`
 * (or `host_key`, a public key line), on a host or the pool, pins one from the first contact.
 */
import type { ClusterHandle, NodeInfo, RunnerSpec } from '../../../../core/cluster';
import { ProviderError } from '../../../../core/errors';
import type { Offer } from '../../../../core/offers';
import type { Resources } from '../../../../core/task';
import { REMOVE_NODE_DIR } from '../../runners/container';
import { MISSING_TOOLS } from '../../runners/ssh-scripts';
import { waitForSsh } from '../../runners/ssh-wait';
import {
  type HostLedger,
  type InstanceState,
  type Provider,
  type ProvisionContext,
  type ProvisionRequest,
  restartRequest,
} from '../provider';
import { type PoolHost, fitting, poolsFile, readPools } from './pools';

export { type PoolHost, poolsFile, readPools } from './pools';

/** Pool hosts are up already: how long one may take to answer before the attempt fails. */
const SSH_TIMEOUT_MS = 30_000;

/** ssh2 is loaded only when a pool is really used: the CLI's optimizer does not need it. */
async function sshRunner(spec: Extract<RunnerSpec, { kind: 'ssh' }>) {
  const { SshRunner } = await import('../../runners/ssh');
  return new SshRunner(spec);
}

/** This cluster's SkyRun folder on a pool host, relative to ~. */
function nodeDir(cluster: string): string {
  return `.skyrun-node/${cluster}`;
}

function runnerSpec(h: PoolHost, cluster: string): Extract<RunnerSpec, { kind: 'ssh' }> {
  return {
    kind: 'ssh',
    host: h.ip,
    port: h.port,
    user: h.user,
    identityFile: h.identityFile,
    proxyCommand: h.proxyCommand,
    nodeDir: nodeDir(cluster),
    hostKey: { cluster, node: h.id, fingerprint: h.hostKeyFingerprint },
  };
}

export class SshPoolProvider implements Provider {
  readonly name = 'ssh';

  constructor(private readonly ledger: HostLedger) {}

  async check() {
    const pools = Object.keys(readPools());
    return pools.length ? { enabled: true } : { enabled: false, reason: `no node pools in ${poolsFile()}` };
  }

  async offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]> {
    if (r.infra.cloud !== undefined && r.infra.cloud !== 'ssh') return [];
    if (r.instanceType || r.useSpot || r.infra.zone) return [];
    const pools = readPools();
    const names = r.infra.region ? [r.infra.region] : Object.keys(pools);
    const out: Offer[] = [];
    for (const pool of names) {
      const hosts = fitting(pools[pool] ?? [], r.accelerator);
      if (hosts.length < numNodes) continue;
      out.push({
        cloud: 'ssh',
        region: pool,
        zones: [],
        instanceType: r.accelerator ? `host-${r.accelerator.name}:${r.accelerator.count}` : 'host',
        spot: false,
        hourlyPrice: 0,
        numNodes,
        vcpus: 0,
        memoryGiB: 0,
        accelerator: r.accelerator,
        candidate,
      });
    }
    return out;
  }

  provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    return this.reserveAndCheck(req, ctx, true);
  }

  /**
   * Reserve hosts and wait until each answers. A host that lacks tools SkyRun needs (the
   * runner's preflight) is left out and, on a new launch (`swap`), the pool's next free host is
   * tried; when none fits, that host's reason fails the attempt and failover moves on.
   */
  private async reserveAndCheck(req: ProvisionRequest, ctx: ProvisionContext, swap: boolean): Promise<ClusterHandle> {
    const pool = req.offer.region;
    const hosts = fitting(readPools()[pool] ?? [], req.offer.accelerator);
    const unfit = new Map<string, string>(); // host id -> why it was refused
    for (;;) {
      const usable = hosts.filter((h) => !unfit.has(h.id));
      if (unfit.size && usable.length < req.offer.numNodes) {
        throw new ProviderError('unknown', [...unfit.values()].join('; '), MISSING_TOOLS);
      }
      const ids = await this.ledger.reserve(
        pool,
        req.clusterName,
        usable.map((h) => h.id),
        req.offer.numNodes,
      );
      ctx.heartbeat(ids);
      const byId = new Map(hosts.map((h) => [h.id, h]));
      const nodes: NodeInfo[] = ids.map((id, rank) => {
        const h = byId.get(id);
        if (!h) throw new ProviderError('config', `host ${id} of pool ${pool} is no longer in ${poolsFile()}`);
        return { rank, instanceId: id, ip: h.ip, runner: runnerSpec(h, req.clusterName) };
      });
      // every host must answer (and have this cluster's folder) before the cluster counts as up
      const waits = await Promise.allSettled(
        nodes.map((n) =>
          waitForSsh(n.runner as Extract<RunnerSpec, { kind: 'ssh' }>, {
            sleep: (ms) => ctx.sleep(ms),
            timeoutMs: SSH_TIMEOUT_MS,
            command: ['bash', '-c', 'mkdir -p "$HOME/$1"', 'bash', nodeDir(req.clusterName)],
          }),
        ),
      );
      const failed = waits.flatMap((w, i) => (w.status === 'rejected' ? [{ id: ids[i]!, e: w.reason }] : []));
      if (!failed.length) return { clusterName: req.clusterName, offer: req.offer, offerKey: req.offerKey, nodes };
      const other = failed.find((f) => (f.e as ProviderError).code !== MISSING_TOOLS);
      if (other || !swap) throw (other ?? failed[0]!).e;
      for (const f of failed) unfit.set(f.id, (f.e as Error).message);
      await this.ledger.release(pool, req.clusterName); // then reserve again without them
    }
  }

  /** The hosts each pool has given to the cluster (its "tags"). */
  private async held(clusterName: string): Promise<Array<PoolHost & { pool: string }>> {
    const out: Array<PoolHost & { pool: string }> = [];
    for (const [pool, hosts] of Object.entries(readPools())) {
      const assignments = await this.ledger.assignments(pool);
      for (const h of hosts) if (assignments[h.id] === clusterName) out.push({ ...h, pool });
    }
    return out;
  }

  async query(clusterName: string): Promise<InstanceState[]> {
    return (await this.held(clusterName)).map((h) => ({ instanceId: h.id, state: 'running' as const }));
  }

  /** The hosts stay on (and reserved for the cluster): stopping kills the cluster's jobs there. */
  async stop(handle: ClusterHandle): Promise<void> {
    const held = await this.held(handle.clusterName);
    await Promise.all(held.map(async (h) => (await sshRunner(runnerSpec(h, handle.clusterName))).killAll()));
  }

  /** The same hosts again (the ledger gives a cluster the hosts it holds first). */
  start(handle: ClusterHandle, ctx: ProvisionContext): Promise<ClusterHandle> {
    return this.reserveAndCheck(restartRequest(handle), ctx, false);
  }

  /** Kill the cluster's jobs on its hosts, remove its folder (and docker mode's container) there, then give the hosts back. */
  async terminate(clusterName: string): Promise<void> {
    const held = await this.held(clusterName);
    await Promise.all(
      held.map(async (h) => {
        const runner = await sshRunner(runnerSpec(h, clusterName));
        await runner.killAll();
        await runner.exec(['bash', '-c', REMOVE_NODE_DIR, 'bash', nodeDir(clusterName)]);
      }),
    );
    for (const pool of new Set(held.map((h) => h.pool))) {
      await this.ledger.release(pool, clusterName);
    }
  }
}
