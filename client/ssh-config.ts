/**
 * `ssh <cluster>` and VS Code Remote: an ssh config entry per node of every cluster reached
 * over SSH (SKYRUN_HOME/ssh/config; the head is `<cluster>`, workers `<cluster>-worker<N>`),
 * included from ~/.ssh/config (through ~/.ssh/skyrun-homes/, see writeSshConfig) as SkyPilot does. Host keys are checked against the ones
 * SkyRun recorded on first contact (SKYRUN_HOME/ssh/known_hosts/<cluster>).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClusterInfo, NodeInfo } from '../core/cluster';
import { homePath, hostKeyRecord } from '../activities/infra/inspect';

export function sshConfigFile(): string {
  return homePath('ssh', 'config');
}

/** The user's own ssh config, which gets an Include line (SKYRUN_USER_SSH_CONFIG in tests). */
function userSshConfig(): string {
  return process.env.SKYRUN_USER_SSH_CONFIG || path.join(os.homedir(), '.ssh', 'config');
}

export function hostAlias(cluster: string, rank: number): string {
  return rank === 0 ? cluster : `${cluster}-worker${rank}`;
}

/** A file path as an ssh config argument: `%` is a token there, and a space ends the word. */
function pathArg(p: string): string {
  const escaped = p.replace(/%/g, '%%');
  return /\s/.test(escaped) ? `"${escaped}"` : escaped;
}

function entry(alias: string, n: NodeInfo): string[] {
  if (n.runner.kind !== 'ssh') return [];
  const r = n.runner;
  const known = hostKeyRecord(r);
  return [
    `Host ${alias}`,
    `  HostName ${r.host}`,
    `  Port ${r.port}`,
    `  User ${r.user}`,
    `  IdentityFile ${pathArg(r.identityFile)}`,
    '  IdentitiesOnly yes',
    // the key SkyRun recorded on first contact (or the pinned one): a changed key is refused
    `  UserKnownHostsFile ${pathArg(known.file)}`,
    `  HostKeyAlias ${known.alias}`,
    '  StrictHostKeyChecking yes',
    '  LogLevel ERROR',
    ...(r.proxyCommand ? [`  ProxyCommand ${r.proxyCommand}`] : []),
    '',
  ];
}

/**
 * Rewrite the entries for these clusters (all that are up); returns the config file. The user's
 * ~/.ssh/config is touched only when a cluster is reached over SSH: one `Include
 * ~/.ssh/skyrun-homes/*` line however many SKYRUN_HOMEs, each home a file there that includes its own
 * config (removed when it has no SSH cluster left).
 */
export function writeSshConfig(clusters: ClusterInfo[]): string {
  const lines = ['# Written by SkyRun: one entry per node of each cluster reached over SSH.', ''];
  for (const c of clusters) for (const n of c.handle?.nodes ?? []) lines.push(...entry(hostAlias(c.name, n.rank), n));
  const file = sshConfigFile();
  const any = lines.length > 2;
  if (!any && !existsSync(file)) return file;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, lines.join('\n'), { mode: 0o600 });
  const link = homeLink(file);
  if (any) {
    ensureInclude(path.dirname(link));
    writeFileSync(
      link,
      `# Written by SkyRun for SKYRUN_HOME ${path.dirname(path.dirname(file))}\nInclude ${pathArg(file)}\n`,
      {
        mode: 0o600,
      },
    );
  } else rmSync(link, { force: true });
  return file;
}

/** This home's file in the user's skyrun-homes folder (named by a hash of the home's path). */
function homeLink(file: string): string {
  const id = createHash('sha256').update(path.resolve(file)).digest('hex').slice(0, 16);
  return path.join(path.dirname(userSshConfig()), 'skyrun-homes', id);
}

function ensureInclude(dir: string): void {
  const user = userSshConfig();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // ~ where it can be: the user's config reads the same on any account
  const rel = path.relative(os.homedir(), dir);
  const shown = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `~/${rel}` : dir;
  const line = `Include ${pathArg(path.join(shown, '*'))}`;
  const current = existsSync(user) ? readFileSync(user, 'utf8') : '';
  if (current.split('\n').some((l) => l.trim() === line)) return;
  // Include must come before any Host block to apply everywhere
  writeFileSync(user, `# Added by SkyRun\n${line}\n\n${current}`, { mode: 0o600 });
}
