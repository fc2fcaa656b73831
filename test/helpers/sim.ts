/** Driving the sim infra from tests: its fault config and its instance list ("cloud console"). */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { readSimInstances, simConfigFile, type SimConfig, type SimInstance } from '../../activities/infra/clouds/sim';
import { REPO, SkyrunEnv } from './skyrun';

export const FIXTURES = path.resolve(REPO, '..', 'shared', 'catalog', 'fixtures-small');
export const FULL_CATALOG = path.resolve(REPO, '..', 'shared', 'catalog');

export function writeSimConfig(sr: SkyrunEnv, cfg: Partial<SimConfig>): void {
  writeFileSync(simConfigFile(sr.home), stringify(cfg));
}

export function liveInstances(sr: SkyrunEnv, cluster?: string): SimInstance[] {
  return readSimInstances(sr.home).filter((i) => i.state === 'running' && (!cluster || i.cluster === cluster));
}

/** A SkyrunEnv whose sim mirrors the small AWS fixture catalog. */
export async function simEnv(prefix: string): Promise<SkyrunEnv> {
  const sr = await SkyrunEnv.create(prefix);
  sr.env.SKYRUN_CATALOG_DIR = FIXTURES;
  writeSimConfig(sr, {});
  return sr;
}
