/**
 * The sim's configuration, SKYRUN_HOME/sim.yaml: the catalog cloud it mirrors, and the capacity
 * limits and faults it injects. Re-read on every call so a test can change it live.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ProviderError } from '../../../../core/errors';
import { describe } from '../../../../core/resources';
import { TaskValidationError, checkWholeNumbers, entries, readDocument, unknownField } from '../../../../core/task';
import { skyrunHome } from '../../home';

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

export const DEFAULTS: SimConfig = {
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

export function simConfigFile(home = skyrunHome()): string {
  return path.join(home, 'sim.yaml');
}

export function readSimConfig(home = skyrunHome()): SimConfig | undefined {
  const file = simConfigFile(home);
  if (!existsSync(file)) return undefined;
  const raw = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Partial<SimConfig>;
  return { ...DEFAULTS, ...raw };
}

/** Why a value of one sim config field is wrong, or undefined when it is right. */
type FieldCheck = (v: unknown) => string | undefined;

const bool: FieldCheck = (v) => (typeof v === 'boolean' ? undefined : `expected true or false, got ${describe(v)}`);
const places: FieldCheck = (v) =>
  Array.isArray(v) && v.every((x) => typeof x === 'string' && x.trim() !== '')
    ? undefined
    : `expected a list of places ("*", a region or "region/zone"), got ${describe(v)}`;
const whole =
  (nullable: boolean): FieldCheck =>
  (v) =>
    (nullable && v === null) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)
      ? undefined
      : `expected a whole number >= 0${nullable ? ' (or null)' : ''}, got ${describe(v)}`;

/** The fields of sim.yaml and the check of each (the SimConfig fields, one each). */
const SIM_FIELDS: { readonly [K in keyof SimConfig]-?: FieldCheck } = {
  catalog_cloud: (v) =>
    typeof v === 'string' && /^[a-z][a-z0-9-]*$/.test(v)
      ? undefined
      : `expected the name of a catalog cloud like "aws" or "gcp", got ${describe(v)}`,
  capacity_errors: places,
  zone_limits: (v) =>
    v !== null &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    Object.values(v).every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)
      ? undefined
      : `expected a mapping of "region/zone" to a whole number of instances, got ${describe(v)}`,
  quota_errors: places,
  cloud_quota_error: bool,
  auth_error: bool,
  invalid_error: bool,
  unknown_error_zones: places,
  transient_error_rate: (v) =>
    typeof v === 'number' && v >= 0 && v <= 1 ? undefined : `expected a fraction from 0 to 1, got ${describe(v)}`,
  transient_failures: whole(false),
  create_delay_ms: whole(false),
  preempt_after_ms: whole(true),
  max_preemptions: whole(true),
};
const SIM_FIELD_NAMES = Object.keys(SIM_FIELDS);
const WHOLE_FIELDS = ['zone_limits', 'transient_failures', 'create_delay_ms', 'preempt_after_ms', 'max_preemptions'];

/**
 * Validates the text of a sim config (read by the CLI's bounded reader) the way task files are:
 * the same YAML bounds, every problem with its line and column. Throws TaskValidationError.
 */
export function parseSimConfig(text: string, file: string): SimConfig {
  const { ctx, root } = readDocument(text, file, {
    noun: 'sim config',
    fields: SIM_FIELD_NAMES,
    like: 'catalog_cloud and capacity_errors',
  });
  const cfg: Record<string, unknown> = { ...DEFAULTS };
  for (const e of entries(ctx, root, '')) {
    const check = Object.prototype.hasOwnProperty.call(SIM_FIELDS, e.key)
      ? SIM_FIELDS[e.key as keyof SimConfig]
      : undefined;
    if (!check) {
      unknownField(ctx, e, SIM_FIELD_NAMES, 'sim config');
      continue;
    }
    if (WHOLE_FIELDS.includes(e.key) && !checkWholeNumbers(ctx, e.value, e.field)) continue;
    const v = ctx.js(e.value);
    const problem = check(v);
    if (problem) ctx.add(e.value ?? e.keyNode, e.field, problem);
    else cfg[e.key] = v;
  }
  if (ctx.issues.length > 0) throw new TaskValidationError(ctx.issues);
  return cfg as unknown as SimConfig;
}

/** `*` (everywhere), a region, or `region/zone`. */
export function matchesPlace(list: string[], region: string, zone: string): boolean {
  return list.includes('*') || list.includes(region) || list.includes(`${region}/${zone}`);
}

/** A throttling error, as often as the config's transient_error_rate says. */
export function maybeThrottled(cfg: SimConfig): void {
  if (cfg.transient_error_rate > 0 && Math.random() < cfg.transient_error_rate) {
    throw new ProviderError('transient', 'RequestLimitExceeded: Request limit exceeded.', 'RequestLimitExceeded');
  }
}
