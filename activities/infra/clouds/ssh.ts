/**
 * `ssh` infra: node pools of machines you already have, declared in
 * SKYRUN_HOME/ssh_node_pools.yaml (SkyPilot's format, plus `port`, `proxy_command` and per-host
 * `accelerators`). A task asks for one with `infra: ssh/<pool>`. Hosts are handed out by the
 * pool's own workflow (`ssh-pool/<pool>`), so two clusters never get the same host and a failed
 * launch gives its hosts back; not enough free hosts is a capacity error, and failover moves on.
 *
 *   my-pool:
 *     user: ubuntu
 *     identity_file: ~/.ssh/id_ed25519
 *     hosts:
 *       - 10.0.0.11
 *       - {ip: 10.0.0.12, port: 2222, accelerators: A100:8}
 */
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ClusterHandle, NodeInfo, RunnerSpec } from '../../../core/cluster';
import { ProviderError } from '../../../core/errors';
import type { Offer } from '../../../core/offers';
import { parseAccelerators } from '../../../core/resources';
import type { Resources } from '../../../core/task';
import { homePath } from '../home';
import type { HostLedger, InstanceState, Provider, ProvisionContext, ProvisionRequest } from './provider';

export interface PoolHost {
  /** `ip:port`: the host's identity in its pool */
  id: string;
  ip: string;
  port: number;
  user: string;
  identityFile: string;
  proxyCommand?: string;
  accelerator?: { name: string; count: number };
}

export function poolsFile(): string {
  return process.env.SKYRUN_SSH_NODE_POOLS || homePath('ssh_node_pools.yaml');
}

function expandHome(p: string): string {
  return p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : p;
}

/** The pools, validated; a mistake names the file, the pool and the field. */
export function readPools(): Record<string, PoolHost[]> {
  const file = poolsFile();
  if (!existsSync(file)) return {};
  const raw = parseYaml(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>> | null;
  const bad = (where: string, what: string) => new ProviderError('config', `${file}: ${where}: ${what}`);
  const pools: Record<string, PoolHost[]> = {};
  for (const [pool, cfg] of Object.entries(raw ?? {})) {
    if (!/^[a-zA-Z0-9][-_.a-zA-Z0-9]*$/.test(pool)) throw bad(pool, 'a pool name is letters, digits, -, _ and .');
    if (!cfg || typeof cfg !== 'object' || !Array.isArray(cfg.hosts) || !cfg.hosts.length) {
      throw bad(pool, 'expected `hosts:` with at least one host');
    }
    pools[pool] = cfg.hosts.map((h: unknown, i: number) => {
      const entry = (typeof h === 'string' ? { ip: h } : h) as Record<string, unknown>;
      const field = (k: string) => entry[k] ?? cfg[k];
      const ip = String(entry.ip ?? '');
      const user = String(field('user') ?? os.userInfo().username);
      const identityFile = field('identity_file');
      if (!ip) throw bad(`${pool}.hosts[${i}]`, 'expected an ip');
      if (typeof identityFile !== 'string')
        throw bad(`${pool}.hosts[${i}]`, 'expected identity_file (on the host or the pool)');
      const port = Number(field('port') ?? 22);
      let accelerator: PoolHost['accelerator'];
      if (entry.accelerators !== undefined) {
        const acc = parseAccelerators(entry.accelerators);
        if (!acc.ok || acc.value.length !== 1)
          throw bad(`${pool}.hosts[${i}].accelerators`, 'expected one accelerator like A100:8');
        accelerator = acc.value[0];
      }
      const proxy = field('proxy_command');
      return {
        id: `${ip}:${port}`,
        ip,
        port,
        user,
        identityFile: expandHome(identityFile),
        proxyCommand: typeof proxy === 'string' ? proxy : undefined,
        accelerator,
      };
    });
  }
  return pools;
}

/** Hosts of a pool that can carry the request's accelerator (all of them without one). */
function fitting(hosts: PoolHost[], acc: { name: string; count: number } | undefined): PoolHost[] {
  if (!acc) return hosts;
  return hosts.filter(
    (h) =>
      h.accelerator && h.accelerator.name.toLowerCase() === acc.name.toLowerCase() && h.accelerator.count >= acc.count,
  );
}

/** ssh2 is loaded only when a pool is really used: the CLI's optimizer does not need it. */
async function sshRunner(spec: Extract<RunnerSpec, { kind: 'ssh' }>) {
  const { SshRunner } = await import('../runners/ssh');
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

  async provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    const pool = req.offer.region;
    const hosts = fitting(readPools()[pool] ?? [], req.offer.accelerator);
    const ids = await this.ledger.reserve(
      pool,
      req.clusterName,
      hosts.map((h) => h.id),
      req.offer.numNodes,
    );
    ctx.heartbeat(ids);
    const byId = new Map(hosts.map((h) => [h.id, h]));
    const nodes: NodeInfo[] = ids.map((id, rank) => {
      const h = byId.get(id);
      if (!h) throw new ProviderError('config', `host ${id} of pool ${pool} is no longer in ${poolsFile()}`);
      return { rank, instanceId: id, ip: h.ip, runner: runnerSpec(h, req.clusterName) };
    });
    // every host must answer before the cluster counts as up
    await Promise.all(
      nodes.map(async (n) => {
        const r = await (
          await sshRunner(n.runner as Extract<RunnerSpec, { kind: 'ssh' }>)
        ).exec(['bash', '-c', 'mkdir -p "$HOME/$1"', 'bash', nodeDir(req.clusterName)]);
        if (r.code !== 0) throw new ProviderError('unknown', `${n.instanceId}: ${r.stderr.trim() || `exit ${r.code}`}`);
      }),
    );
    return { clusterName: req.clusterName, offer: req.offer, offerKey: req.offerKey, nodes };
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

  /** Kill the cluster's jobs on its hosts and remove its folder there, then give the hosts back. */
  async terminate(clusterName: string): Promise<void> {
    const held = await this.held(clusterName);
    await Promise.all(
      held.map(async (h) => {
        const runner = await sshRunner(runnerSpec(h, clusterName));
        await runner.killAll();
        await runner.exec(['bash', '-c', 'rm -rf "$HOME/$1"', 'bash', nodeDir(clusterName)]);
      }),
    );
    for (const pool of new Set(held.map((h) => h.pool))) {
      await this.ledger.release(pool, clusterName);
    }
  }
}
