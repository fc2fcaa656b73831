/**
 * SSH node pools as declared in SKYRUN_HOME/ssh_node_pools.yaml (or SKYRUN_SSH_NODE_POOLS):
 * read, validated (a mistake names the file, the pool and the field), and matched to a request.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ProviderError } from '../../../../core/errors';
import { parseAccelerators } from '../../../../core/resources';
import { homePath } from '../../home';
import { normalizePin } from '../../runners/host-keys';

export interface PoolHost {
  /** `ip:port`: the host's identity in its pool */
  id: string;
  ip: string;
  port: number;
  user: string;
  identityFile: string;
  proxyCommand?: string;
  accelerator?: { name: string; count: number };
  /** a pinned host key fingerprint (SHA256:...), enforced from the first contact */
  hostKeyFingerprint?: string;
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
      // a host's own pin (either form) before its pool's
      const pin = entry.host_key_fingerprint ?? entry.host_key ?? cfg.host_key_fingerprint ?? cfg.host_key;
      const hostKeyFingerprint = typeof pin === 'string' ? normalizePin(pin) : undefined;
      if (pin !== undefined && !hostKeyFingerprint)
        throw bad(
          `${pool}.hosts[${i}]`,
          'expected host_key_fingerprint as `ssh-keygen -lf` prints it (SHA256:...) or host_key as a public key line',
        );
      return {
        id: `${ip}:${port}`,
        ip,
        port,
        user,
        identityFile: expandHome(identityFile),
        proxyCommand: typeof proxy === 'string' ? proxy : undefined,
        accelerator,
        hostKeyFingerprint,
      };
    });
  }
  return pools;
}

/** Hosts of a pool that can carry the request's accelerator (all of them without one). */
export function fitting(hosts: PoolHost[], acc: { name: string; count: number } | undefined): PoolHost[] {
  if (!acc) return hosts;
  return hosts.filter(
    (h) =>
      h.accelerator && h.accelerator.name.toLowerCase() === acc.name.toLowerCase() && h.accelerator.count >= acc.count,
  );
}
