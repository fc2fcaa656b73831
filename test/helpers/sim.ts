/** Driving the sim infra from tests: its fault config and its instance list ("cloud console"). */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
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

/**
 * A sim env for managed jobs, its server started: continue-as-new really happens (the server
 * suggests it after 40 events) and a search for capacity retries after 1 s.
 */
export async function managedSimEnv(prefix: string): Promise<SkyrunEnv> {
  const sr = await simEnv(prefix);
  sr.env.SKYRUN_SERVER_ARGS = '--dynamic-config-value limit.historyCount.suggestContinueAsNew=40';
  sr.env.SKYRUN_RETRY_UNTIL_UP_GAP_SECONDS = '1';
  const r = await sr.run(['server', 'start']);
  if (r.code !== 0) throw new Error(`server start failed: ${r.stderr}`);
  return sr;
}

/** The non-empty lines of a file in the env's home (none when it does not exist). */
export function homeLines(sr: SkyrunEnv, name: string): string[] {
  const f = path.join(sr.home, name);
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : [];
}

/**
 * Around a test file that calls the optimizer in-process: SKYRUN_CATALOG_DIR on `catalogDir` and
 * a private SKYRUN_HOME (its path from the returned function), both put back after.
 */
export function useCatalogHome(prefix: string, catalogDir: string): () => string {
  const saved = { SKYRUN_CATALOG_DIR: process.env.SKYRUN_CATALOG_DIR, SKYRUN_HOME: process.env.SKYRUN_HOME };
  let home = '';
  beforeAll(() => {
    home = mkdtempSync(path.join(os.tmpdir(), `skyrun-${prefix}-`));
    process.env.SKYRUN_CATALOG_DIR = catalogDir;
    process.env.SKYRUN_HOME = home;
  });
  afterAll(() => {
    if (home) rmSync(home, { recursive: true, force: true });
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  return () => home;
}
