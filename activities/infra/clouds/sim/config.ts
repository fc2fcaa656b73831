/**
 * The sim's configuration, SKYRUN_HOME/sim.yaml: the catalog cloud it mirrors, and the capacity
 * limits and faults it injects. Re-read on every call so a test can change it live.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ProviderError } from '../../../../core/errors';
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
