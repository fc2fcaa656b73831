/**
 * SkyRun's settings: SKYRUN_HOME/config.yaml (or SKYRUN_CONFIG) merged over SkyPilot's own
 * ~/.sky/config.yaml (or SKYPILOT_CONFIG), see core/config-file.ts: per-cloud options such as
 * `ssh_proxy_command`, `allowed_clouds`, and the SkyRun SSH key the clouds install.
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
import * as os from 'node:os';
import * as path from 'node:path';
import { type ConfigLayer, mergeLayers, parseConfigFile } from '../../core/config-file';
import { ProviderError } from '../../core/errors';
import { formatIssues } from '../../core/task/types';
import { homePath } from './home';

export type CloudSettings = Record<string, unknown> & {
  ssh_proxy_command?: string | Record<string, string>;
  ssh_user?: string;
};

export function settingsFile(): string {
  return process.env.SKYRUN_CONFIG || homePath('config.yaml');
}

/** SkyPilot's config file: SKYPILOT_CONFIG, else ~/.sky/config.yaml. */
export function skypilotConfigFile(): string {
  return process.env.SKYPILOT_CONFIG || path.join(os.homedir(), '.sky', 'config.yaml');
}

/** The config layers that exist, lowest precedence first: SkyPilot's file, then SkyRun's own. */
export function configLayers(): ConfigLayer[] {
  return [skypilotConfigFile(), settingsFile()].flatMap((file) =>
    existsSync(file) && statSync(file).isFile() ? [parseConfigFile(readFileSync(file, 'utf8'), file)] : [],
  );
}

/** Every layer's invalid values, as one `config` error naming file:line and the field. */
function settings(): Record<string, unknown> {
  const layers = configLayers();
  const issues = layers.flatMap((l) => l.issues);
  if (issues.length) throw new ProviderError('config', formatIssues(issues));
  return mergeLayers(layers);
}

/** One cloud's settings, SkyRun's config.yaml over SkyPilot's (core/config-file.ts). */
export function cloudSettings(cloud: string): CloudSettings {
  const s = settings()[cloud];
  if (s === undefined || s === null) return {};
  if (typeof s !== 'object')
    throw new ProviderError('config', `${settingsFile()}: ${cloud}: expected a mapping of settings`);
  return s as CloudSettings;
}

/** `allowed_clouds` (SkyPilot's): the clouds SkyRun may use; undefined when not set. local and sim are always allowed. */
export function allowedClouds(): string[] | undefined {
  const a = settings().allowed_clouds;
  return Array.isArray(a) ? a.map((c) => String(c).toLowerCase()) : undefined;
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
