/**
 * bench/optimizer: how long the catalog takes to load, the memory it holds, and how long the
 * optimizer takes to rank offers for five typical requests over offers-only aws and gcp providers.
 * The catalog is the SkyPilot-schema catalog folder SKYRUN_CATALOG_DIR names (pass a full one for
 * figures that mean something), else the repository's small test/fixtures/catalog/subset.
 * Run by hand: `npx tsc -p tsconfig.json && [SKYRUN_CATALOG_DIR=...] node dist/bench/optimizer.js [runs]`.
 * Prints figures; asserts nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { catalogOnlyProvider, loadCatalog, loadCatalogUncached } from '../activities/infra/catalog';
import { optimize, type OptimizeRequest } from '../activities/infra/optimizer';
import type { Resources } from '../core/task';
import { CATALOG_SUBSET } from '../test/helpers/sim';
import { stats } from './stats';

const CATALOG = process.env.SKYRUN_CATALOG_DIR || CATALOG_SUBSET;
const CATALOG_JS = path.join(__dirname, '..', 'activities', 'infra', 'catalog', 'index.js');

const mb = (x: number) => `${(x / 2 ** 20).toFixed(1)} MiB`;

/** One fresh node process: module load + catalog load time, and memory after it. */
function freshProcessLoad(env: NodeJS.ProcessEnv): {
  requireMs: number;
  loadMs: number;
  heapUsed: number;
  rss: number;
  heapBefore: number;
  rssBefore: number;
} {
  const script = `
    const t0 = performance.now();
    const c = require(${JSON.stringify(CATALOG_JS)});
    const t1 = performance.now();
    global.gc && global.gc();
    const m0 = process.memoryUsage();
    c.loadCatalog().then((cat) => {
      const t2 = performance.now();
      global.gc && global.gc();
      const m1 = process.memoryUsage();
      if (!cat.clouds().length) throw new Error('empty');
      console.log(JSON.stringify({ requireMs: t1 - t0, loadMs: t2 - t1, heapBefore: m0.heapUsed, rssBefore: m0.rss, heapUsed: m1.heapUsed, rss: m1.rss }));
    });`;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

const res = (r: Partial<Resources> = {}): Resources => ({ infra: {}, useSpot: false, ports: [], labels: {}, ...r });

const REQUESTS: Array<{ label: string; req: OptimizeRequest }> = [
  { label: '1 CPU node (no resources: default cpus 8+)', req: { candidates: [res()], ordered: false, numNodes: 1 } },
  {
    label: 'A100:8',
    req: { candidates: [res({ accelerator: { name: 'A100', count: 8 } })], ordered: false, numNodes: 1 },
  },
  {
    label: '{A100:8, H100:8} spot',
    req: {
      candidates: [
        res({ accelerator: { name: 'A100', count: 8 }, useSpot: true }),
        res({ accelerator: { name: 'H100', count: 8 }, useSpot: true }),
      ],
      ordered: false,
      numNodes: 1,
    },
  },
  {
    label: '4 nodes of L4',
    req: { candidates: [res({ accelerator: { name: 'L4', count: 1 } })], ordered: false, numNodes: 4 },
  },
  {
    label: 'cpus: 8+, infra: gcp',
    req: {
      candidates: [res({ cpus: { value: 8, orMore: true }, infra: { cloud: 'gcp' } })],
      ordered: false,
      numNodes: 1,
    },
  },
];

async function main() {
  const runs = Number(process.argv[2] ?? 7);
  const home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-bench-'));
  const env = { ...process.env, SKYRUN_CATALOG_DIR: CATALOG, SKYRUN_HOME: home };
  Object.assign(process.env, { SKYRUN_CATALOG_DIR: CATALOG, SKYRUN_HOME: home });
  try {
    const first = await loadCatalogUncached();
    console.log(`catalog: ${first.source}`);
    for (const c of first.clouds()) {
      const s = first.stats(c)!;
      console.log(
        `  ${c}: ${s.rows} rows (${s.duplicates} duplicates dropped), ${s.entries} entries indexed, ${first.regions(c).length} regions`,
      );
    }

    const fresh = Array.from({ length: runs }, () => freshProcessLoad(env));
    console.log(`\nload, fresh node process each run (file cache warm):`);
    console.log(`  require(activities/catalog):  ${stats(fresh.map((f) => f.requireMs))}`);
    console.log(`  loadCatalog() aws+gcp:        ${stats(fresh.map((f) => f.loadMs))}`);
    const m = fresh[fresh.length - 1]!;
    console.log(
      `  memory after load (after gc): heapUsed ${mb(m.heapUsed)} (+${mb(m.heapUsed - m.heapBefore)}), rss ${mb(m.rss)} (+${mb(m.rss - m.rssBefore)})`,
    );

    const inProc: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await loadCatalogUncached();
      inProc.push(performance.now() - t0);
    }
    console.log(`load, same process, memo bypassed (JIT warm): ${stats(inProc)}`);

    const providers = [catalogOnlyProvider('aws'), catalogOnlyProvider('gcp')];
    await loadCatalog();
    console.log(`\nrank offers (optimize over offers-only aws + gcp, catalog loaded; ${runs * 10} runs each):`);
    for (const { label, req } of REQUESTS) {
      const times: number[] = [];
      let best = '';
      let count = 0;
      for (let i = 0; i < runs * 10; i++) {
        const t0 = performance.now();
        const r = await optimize(req, { providers });
        times.push(performance.now() - t0);
        const o = r.offers[0];
        count = r.offers.length;
        best = o
          ? `${o.cloud}/${o.region} ${o.instanceType}${o.spot ? ' spot' : ''} $${(o.hourlyPrice * o.numNodes).toFixed(4)}/h`
          : 'none';
      }
      console.log(`  ${label.padEnd(44)} ${stats(times)}  -> ${count} offers, best ${best}`);
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
