/** Driving the sim infra from tests: its fault config and its instance list ("cloud console"). */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { readSimInstances, simConfigFile, type SimConfig, type SimInstance } from '../../activities/infra/clouds/sim';
import { REPO, SkyrunEnv } from './skyrun';

/** The small catalog (SkyPilot's flat `<cloud>_vms.csv` layout): 4 regions x 2 zones per cloud. */
export const FIXTURES = path.join(REPO, 'test', 'fixtures', 'catalog', 'small');
/** Every row of the types and accelerators the catalog and optimizer tests name, in all regions. */
export const CATALOG_SUBSET = path.join(REPO, 'test', 'fixtures', 'catalog', 'subset');

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
