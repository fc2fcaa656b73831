/**
 * SkyRun's own settings, SKYRUN_HOME/config.yaml (SkyPilot's ~/.sky/config.yaml in spirit):
 * per-cloud options such as `ssh_proxy_command`, and the SkyRun SSH key the clouds install.
 *
 *   aws:
 *     ssh_proxy_command: ssh -W %h:%p bastion     # or {us-east-1: "...", ...} per region
 *     ssh_user: ubuntu
 *   gcp:
 *     project: my-project
 *     ssh_proxy_command: ...
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ProviderError } from '../../core/errors';
import { homePath } from './home';

export type CloudSettings = Record<string, unknown> & {
  ssh_proxy_command?: string | Record<string, string>;
  ssh_user?: string;
};

export function settingsFile(): string {
  return process.env.SKYRUN_CONFIG || homePath('config.yaml');
}

export function cloudSettings(cloud: string): CloudSettings {
  const file = settingsFile();
  if (!existsSync(file)) return {};
  const all = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
  const s = all[cloud];
  if (s === undefined || s === null) return {};
  if (typeof s !== 'object') throw new ProviderError('config', `${file}: ${cloud}: expected a mapping of settings`);
  return s as CloudSettings;
}

/** The proxy command for a region: one for the whole cloud, or a map region -> command. */
export function proxyCommandFor(cloud: string, region: string): string | undefined {
  const p = cloudSettings(cloud).ssh_proxy_command;
  if (p === undefined || typeof p === 'string') return p;
  return p[region];
}

/** SkyRun's SSH key pair (ed25519, created 0600 on first use); returns the private key's path. */
export function skyrunSshKey(): { privateKey: string; publicKey: string } {
  const privateKey = homePath('ssh', 'skyrun-key');
  if (!existsSync(privateKey)) {
    mkdirSync(path.dirname(privateKey), { recursive: true, mode: 0o700 });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'skyrun', '-f', privateKey]);
  }
  // a key mounted read-only (a Kubernetes Secret, mode 0400) is private already and cannot be changed
  if ((statSync(privateKey).mode & 0o077) !== 0) chmodSync(privateKey, 0o600);
  return { privateKey, publicKey: readFileSync(privateKey + '.pub', 'utf8').trim() };
}
