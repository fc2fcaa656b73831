// Where to run: cloud names and `infra` strings (`aws/us-east-1/us-east-1a`),
// and the region / zone fields. Pure TypeScript, bundle-safe.

import { unknownMessage } from '../suggest';
import { describe, fail, ok, quoteList } from './parsed';
import type { Parsed } from './parsed';

/** A place to look; undefined parts mean any ('*' or absent). */
export interface Location {
  cloud?: string;
  region?: string;
  zone?: string;
}

/** Known infra names, lowercase. `k8s` is an alias of `kubernetes`. */
export const KNOWN_CLOUDS: readonly string[] = [
  'aws',
  'gcp',
  'azure',
  'kubernetes',
  'lambda',
  'runpod',
  'nebius',
  'oci',
  'ibm',
  'scp',
  'vast',
  'cudo',
  'fluidstack',
  'paperspace',
  'do',
  'hyperbolic',
  'ssh',
  'slurm',
  'vsphere',
  'local',
  'sim',
];
const CLOUD_ALIASES: Record<string, string> = { k8s: 'kubernetes' };

/** Canonical (lowercase) cloud name, or an error with a suggestion. */
export function normalizeCloud(name: unknown): Parsed<string> {
  if (typeof name !== 'string' || name.trim() === '') {
    return fail(`expected a cloud name (one of ${quoteList(KNOWN_CLOUDS)}), got ${describe(name)}`);
  }
  const lower = name.trim().toLowerCase();
  if (CLOUD_ALIASES[lower] !== undefined) return ok(CLOUD_ALIASES[lower]);
  if (KNOWN_CLOUDS.includes(lower)) return ok(lower);
  return fail(
    unknownMessage('cloud', name, [...KNOWN_CLOUDS, 'k8s'], `expected one of ${quoteList(KNOWN_CLOUDS)} (or k8s)`),
  );
}

const INFRA_EXPECTED =
  'expected infra like "aws", "aws/us-east-1", "aws/us-east-1/us-east-1a", "*/us-east-1", "aws/*/us-east-1a", "k8s/<context>" or "ssh/<pool>"';
const LOCATION_PART_RE = /^[A-Za-z0-9*][-A-Za-z0-9_.:*@]*$/;

/**
 * Parses `cloud[/region[/zone]]`. `*` in any part means any. For kubernetes
 * (`k8s/<context>`) and ssh (`ssh/<pool>`) everything after the first `/` is the
 * context or pool and goes in `region`.
 */
export function parseInfra(v: unknown): Parsed<Location> {
  if (typeof v !== 'string') return fail(`${INFRA_EXPECTED}, got ${describe(v)}`);
  const s = v.trim();
  if (s === '') return fail(`${INFRA_EXPECTED}, got an empty string`);
  if (/\s/.test(s)) return fail(`${INFRA_EXPECTED}, got ${describe(v)} (contains spaces)`);
  const parts = s.split('/');
  const loc: Location = {};
  const head = parts[0];
  if (head === '') return fail(`${INFRA_EXPECTED}, got ${describe(v)} (no cloud before '/'; use '*' for any cloud)`);
  if (head !== '*') {
    const cloud = normalizeCloud(head);
    if (!cloud.ok) return cloud;
    loc.cloud = cloud.value;
  }
  if (loc.cloud === 'kubernetes' || loc.cloud === 'ssh') {
    if (parts.length > 1) {
      const rest = parts.slice(1).join('/');
      if (rest === '') {
        const what = loc.cloud === 'ssh' ? 'pool' : 'context';
        return fail(`${INFRA_EXPECTED}, got ${describe(v)} (empty ${what} after '/')`);
      }
      if (rest !== '*') loc.region = rest;
    }
    return ok(loc);
  }
  if (parts.length > 3) {
    return fail(`${INFRA_EXPECTED}, got ${describe(v)} (more than cloud/region/zone)`);
  }
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i];
    const what = i === 1 ? 'region' : 'zone';
    if (p === '') return fail(`${INFRA_EXPECTED}, got ${describe(v)} (empty ${what}; use '*' for any ${what})`);
    if (!LOCATION_PART_RE.test(p)) return fail(`${INFRA_EXPECTED}, got ${describe(v)} (bad ${what} '${p}')`);
    if (p === '*') continue;
    if (i === 1) loc.region = p;
    else loc.zone = p;
  }
  return ok(loc);
}

/** Formats a Location back to infra syntax (`aws/us-east-1`, `*` for any). */
export function formatInfra(loc: Location): string {
  const parts = [loc.cloud ?? '*', loc.region ?? '*', loc.zone ?? '*'];
  while (parts.length > 1 && parts[parts.length - 1] === '*') parts.pop();
  return parts.join('/');
}

/** A region or zone given on its own (`region:` / `zone:` fields). `*` means any. */
export function parseLocationPart(v: unknown, what: 'region' | 'zone'): Parsed<string | undefined> {
  if (v === null || v === undefined) return ok(undefined);
  if (typeof v !== 'string' || v.trim() === '') {
    return fail(
      `expected a ${what} name like ${what === 'region' ? '"us-east-1"' : '"us-east-1a"'}, got ${describe(v)}`,
    );
  }
  const s = v.trim();
  if (!LOCATION_PART_RE.test(s)) {
    return fail(
      `expected a ${what} name like ${what === 'region' ? '"us-east-1"' : '"us-east-1a"'}, got ${describe(v)}`,
    );
  }
  return ok(s === '*' ? undefined : s);
}
