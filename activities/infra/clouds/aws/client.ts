/**
 * EC2 clients and per-region lookups, cached in this process. Credentials come from the SDK's
 * default chain (env, profile, SSO, instance role); the endpoint honours AWS_ENDPOINT_URL_EC2 /
 * AWS_ENDPOINT_URL (tests point it at moto). The SDK is loaded only when AWS is really used.
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as EC2 from '@aws-sdk/client-ec2';
import { ProviderError } from '../../../../core/errors';
import { cloudSettings, settingsFile } from '../../settings';
import { call } from './errors';

export type Sdk = typeof EC2;
export type Instance = EC2.Instance;

/** Whether to let the SDK ask the EC2 instance metadata service for a role's credentials. */
function useInstanceRole(): boolean {
  return cloudSettings('aws').use_instance_role === true || process.env.SKYRUN_AWS_INSTANCE_ROLE === '1';
}

/** A credential source this machine has without asking the network (the SDK's chain, minus IMDS). */
export function localCredentialSource(): boolean {
  const env = process.env;
  if (env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE || env.AWS_WEB_IDENTITY_TOKEN_FILE) return true;
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return true;
  const home = os.homedir();
  const files = [
    env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(home, '.aws', 'credentials'),
    env.AWS_CONFIG_FILE ?? path.join(home, '.aws', 'config'),
  ];
  return files.some((f) => existsSync(f)) || useInstanceRole();
}

let sdkPromise: Promise<Sdk> | undefined;
function sdk(): Promise<Sdk> {
  // its warning about Node versions of future SDK releases is noise on every CLI command
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // the instance metadata service only when asked for (aws.use_instance_role): elsewhere the
  // credential chain must not probe a link-local address on every command
  if (!useInstanceRole()) process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
  return (sdkPromise ??= import('@aws-sdk/client-ec2'));
}

const clients = new Map<string, EC2.EC2Client>();
export async function ec2(region: string): Promise<{ c: EC2.EC2Client; s: Sdk }> {
  const s = await sdk();
  let c = clients.get(region);
  if (!c) clients.set(region, (c = new s.EC2Client({ region })));
  return { c, s };
}

export function defaultRegion(): string {
  return process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
}

const zoneNamesCache = new Map<string, Map<string, string>>();
let regionsCache: Promise<string[]> | undefined;

/** The catalog's AZ IDs (use1-az2) as this account's zone names (us-east-1c). */
export async function zoneNames(region: string, zoneIds: string[]): Promise<string[]> {
  let byId = zoneNamesCache.get(region);
  if (!byId) {
    const { c, s } = await ec2(region);
    const r = await call(() => c.send(new s.DescribeAvailabilityZonesCommand({})));
    byId = new Map((r.AvailabilityZones ?? []).map((z) => [z.ZoneId!, z.ZoneName!]));
    zoneNamesCache.set(region, byId);
  }
  const names = new Set(byId.values());
  return zoneIds.map((z) => byId.get(z) ?? (names.has(z) ? z : '')).filter(Boolean);
}

/** A zone name's AZ ID (as the catalog names zones), when zoneNames has seen the region. */
export function zoneIdOf(region: string, zoneName: string | undefined): string | undefined {
  return [...(zoneNamesCache.get(region)?.entries() ?? [])].find(([, name]) => name === zoneName)?.[0];
}

/**
 * `aws.regions` in the settings: the only regions SkyRun launches in and searches, for an
 * account whose organisation denies the others; undefined when unset (every region).
 */
export function allowedRegions(): string[] | undefined {
  const r = cloudSettings('aws').regions;
  if (r === undefined || r === null) return undefined;
  if (!Array.isArray(r) || !r.length || !r.every((x) => typeof x === 'string' && /^[a-z]{2}(-[a-z]+)+-\d+$/.test(x))) {
    throw new ProviderError(
      'config',
      `${settingsFile()}: aws.regions: expected a list of region names like [us-east-1, eu-west-1], got ${JSON.stringify(r)}`,
    );
  }
  return r as string[];
}

/** The regions to search for a cluster: aws.regions, else every region DescribeRegions lists. */
export async function allRegions(): Promise<string[]> {
  const allowed = allowedRegions();
  if (allowed) return allowed;
  regionsCache ??= (async () => {
    const { c, s } = await ec2(defaultRegion());
    const r = await call(() => c.send(new s.DescribeRegionsCommand({})));
    return (r.Regions ?? []).map((x) => x.RegionName!).filter(Boolean);
  })();
  regionsCache.catch(() => (regionsCache = undefined));
  return regionsCache;
}
