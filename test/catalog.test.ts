/**
 * The catalog: SkyPilot-schema CSVs read by header name with their quirks, the source order
 * (SKYRUN_CATALOG_DIR, then the cache, then the built-in catalog) and `catalog update` against a
 * loopback HTTP server, over the catalog fixtures in test/fixtures/catalog.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Catalog, loadCatalog, loadCatalogUncached, updateCatalog } from '../activities/infra/catalog';
import { parseCsv } from '../activities/infra/catalog/csv';
import type { Resources } from '../core/task';
import { CLI } from './helpers/skyrun';
import { CATALOG_SUBSET, FIXTURES } from './helpers/sim';

const res = (r: Partial<Resources> = {}): Resources => ({ infra: {}, useSpot: false, ports: [], labels: {}, ...r });

const saved = {
  dir: process.env.SKYRUN_CATALOG_DIR,
  home: process.env.SKYRUN_HOME,
  url: process.env.SKYRUN_CATALOG_URL,
};
let home: string;
beforeEach(() => {
  home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-catalog-'));
  process.env.SKYRUN_HOME = home;
  delete process.env.SKYRUN_CATALOG_DIR;
  delete process.env.SKYRUN_CATALOG_URL;
});
afterEach(() => {
  rmSync(home, { recursive: true, force: true });
  for (const [k, v] of [
    ['SKYRUN_CATALOG_DIR', saved.dir],
    ['SKYRUN_HOME', saved.home],
    ['SKYRUN_CATALOG_URL', saved.url],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('CSV reader', () => {
  test('quoted fields with commas and "" escapes, CRLF, blank lines, dedupe', () => {
    const t = parseCsv('a,b,c\r\n1,"x, ""y""",3\r\n\r\n1,"x, ""y""",3\r\n2,,"multi\nline"\n', { dedupe: true });
    expect(t.header).toEqual(['a', 'b', 'c']);
    expect(t.rows).toEqual([
      ['1', 'x, "y"', '3'],
      ['2', '', 'multi\nline'],
    ]);
    expect(t.duplicates).toBe(1);
  });
});

describe('the catalog subset (every row of the types the tests name)', () => {
  let cat: Catalog;
  beforeAll(async () => {
    // the subset has both clouds, so no cache under the (empty) home is read
    const subsetHome = mkdtempSync(path.join(os.tmpdir(), 'skyrun-catalog-subset-'));
    process.env.SKYRUN_CATALOG_DIR = CATALOG_SUBSET;
    process.env.SKYRUN_HOME = subsetHome;
    try {
      cat = await loadCatalogUncached();
    } finally {
      rmSync(subsetHome, { recursive: true, force: true });
    }
  });

  test('both files load from SKYRUN_CATALOG_DIR (aws from vms.subset.csv), rows counted after dedupe', () => {
    expect(cat.source).toContain(path.join(CATALOG_SUBSET, 'aws', 'vms.subset.csv'));
    expect(cat.source).toContain(path.join(CATALOG_SUBSET, 'gcp', 'vms.csv'));
    expect(cat.stats('aws')).toMatchObject({ rows: 270, duplicates: 0 });
    expect(cat.stats('gcp')).toMatchObject({ rows: 702 - 1, duplicates: 1 }); // a tpu-v4-8 row twice
    // 5 AWS rows have neither price (p5e.48xlarge): not offered at all
    expect(cat.stats('aws')!.entries).toBe(265);
    expect(cat.regions('gcp')).toHaveLength(41);
    expect(cat.regions('aws')).toHaveLength(23);
  });

  test('GCP accelerator rows are priced on their host: a2-highgpu-1g + A100:1 = 3.67339 in us-central1-a', () => {
    const offers = cat.offers(
      'gcp',
      res({ accelerator: { name: 'a100', count: 1 }, infra: { zone: 'us-central1-a' } }),
      1,
      0,
    );
    expect(offers).toHaveLength(1);
    expect(offers[0]).toMatchObject({
      cloud: 'gcp',
      region: 'us-central1',
      zones: ['us-central1-a'],
      instanceType: 'a2-highgpu-1g',
      vcpus: 12,
      memoryGiB: 85,
    });
    expect(offers[0]!.hourlyPrice).toBeCloseTo(3.67339, 6);
    expect(offers[0]!.accelerator).toEqual({ name: 'A100', count: 1 });
    // the host row alone (empty AcceleratorName) is not a CPU offer, and a pinned host carries its GPU
    const pinned = cat.offers('gcp', res({ instanceType: 'a2-highgpu-1g', infra: { zone: 'us-central1-a' } }), 1, 0);
    expect(pinned[0]!.hourlyPrice).toBeCloseTo(3.67339, 6);
    expect(
      cat.offers('gcp', res({ cpus: { value: 12, orMore: false }, memory: { value: 85, orMore: false } }), 1, 0),
    ).toEqual([]);
  });

  // SkyPilot's host for T4:1 is 4+ vCPUs and 16+ GiB on n1 (n1-standard-4 has 15 GiB; the subset has no
  // n1-highmem-4, which the full catalog's choice is); with cpus and no memory, 4 GiB per vCPU
  test("GCP n1-hosted GPUs: T4 on the cheapest host of SkyPilot's size, a bigger host for more cpus", () => {
    const t4 = cat.offers(
      'gcp',
      res({ accelerator: { name: 'T4', count: 1 }, infra: { zone: 'us-central1-a' } }),
      1,
      0,
    );
    expect(t4.map((o) => o.instanceType)).toEqual(['n1-standard-8']);
    expect(t4[0]!.hourlyPrice).toBeCloseTo(0.38 + 0.35, 6);
    const big = cat.offers(
      'gcp',
      res({
        accelerator: { name: 'T4', count: 1 },
        cpus: { value: 16, orMore: true },
        infra: { zone: 'us-central1-a' },
      }),
      1,
      0,
    );
    expect(big).toEqual([]); // 16 vCPUs ask 64+ GiB: n1-standard-16 has 60
    const sized = cat.offers(
      'gcp',
      res({
        accelerator: { name: 'T4', count: 1 },
        cpus: { value: 16, orMore: true },
        memory: { value: 32, orMore: true },
        infra: { zone: 'us-central1-a' },
      }),
      1,
      0,
    );
    expect(sized.map((o) => o.instanceType)).toEqual(['n1-standard-16']);
  });

  test('a GCP GPU offer exists only in zones with both the accelerator row and the host row', () => {
    for (const o of cat.offers('gcp', res({ accelerator: { name: 'H100', count: 8 } }), 1, 0)) {
      for (const z of o.zones) {
        const rows = cat.entries('gcp').filter((e) => e.zone === z && e.instanceType === 'a3-highgpu-8g');
        expect(rows.length).toBeGreaterThan(0);
      }
    }
  });

  test('empty SpotPrice = no spot there; empty or zero Price = no on-demand', () => {
    // p5.4xlarge has no spot price in us-east-1
    const spot = cat.offers('aws', res({ accelerator: { name: 'H100', count: 1 }, useSpot: true }), 1, 0);
    expect(spot.some((o) => o.region === 'us-east-1')).toBe(false);
    expect(
      cat.offers('aws', res({ accelerator: { name: 'H100', count: 1 }, infra: { region: 'us-east-1' } }), 1, 0),
    ).toHaveLength(1);
    // p5e.48xlarge: no on-demand price anywhere; spot in use2-az1 (62.9957) and use2-az3, none in use2-az2
    expect(cat.offers('aws', res({ accelerator: { name: 'H200', count: 8 } }), 1, 0)).toEqual([]);
    const h200 = cat.offers(
      'aws',
      res({ accelerator: { name: 'H200', count: 8 }, useSpot: true, infra: { region: 'us-east-2' } }),
      1,
      0,
    );
    expect(h200).toHaveLength(1);
    // zones cheapest first: use2-az3 (18.7359) before use2-az1 (62.9957)
    expect(h200[0]).toMatchObject({ zones: ['use2-az3', 'use2-az1'], spot: true, hourlyPrice: 18.7359 });
    // a4-highgpu-8g (B200) is priced 0.0: never offered
    expect(cat.offers('gcp', res({ accelerator: { name: 'B200', count: 8 } }), 1, 0)).toEqual([]);
    expect(cat.offers('gcp', res({ accelerator: { name: 'B200', count: 8 }, useSpot: true }), 1, 0)).toEqual([]);
  });

  test('AWS zones stay AZ IDs, local zones included; GpuInfo gives per-GPU memory', () => {
    expect(cat.zones('aws', 'us-east-1')).toContain('use1-az2');
    expect(cat.zones('aws', 'us-west-2')).toContain('usw2-lax1-az1');
    expect(cat.zones('aws', 'us-east-1').some((z) => /^us-east-1[a-f]$/.test(z))).toBe(false);
    const a80 = cat.accelerators({ name: 'a100-80gb', cloud: 'aws' });
    expect(a80[0]).toMatchObject({ instanceType: 'p4de.24xlarge', count: 8, deviceMemoryGiB: 80 });
    const v = cat.accelerators({ name: 'V100-32GB' });
    expect(v[0]!.deviceMemoryGiB).toBe(32);
  });

  test('accelerators() and nearestAccelerators()', () => {
    const a100 = cat.accelerators({ name: 'A100', count: 8 });
    expect(a100.map((a) => `${a.cloud} ${a.instanceType}`)).toEqual(['aws p4d.24xlarge', 'gcp a2-highgpu-8g']);
    expect(a100[1]).toMatchObject({ region: 'europe-west4', price: 19.4217 });
    expect(cat.nearestAccelerators('A10O')).toContain('A100');
    expect(cat.nearestAccelerators('h100')[0]).toBe('H100');
  });
});

describe('sources', () => {
  const tiny = (type: string) =>
    'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone,Arch\n' +
    `${type},,,8.0,32.0,,0.5,0.2,us-east-1,use1-az1,x86_64\n`;

  test('SKYRUN_CATALOG_DIR beats the cache, which beats the built-in catalog', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'skyrun-catdir-'));
    try {
      mkdirSync(path.join(dir, 'aws'));
      writeFileSync(path.join(dir, 'aws', 'vms.csv'), tiny('m6i.fromdir'));
      mkdirSync(path.join(home, 'catalogs', 'aws'), { recursive: true });
      writeFileSync(path.join(home, 'catalogs', 'aws', 'vms.csv'), tiny('m6i.fromcache'));
      const types = (c: Catalog) => [...new Set(c.entries('aws').map((e) => e.instanceType))];

      process.env.SKYRUN_CATALOG_DIR = dir;
      let c = await loadCatalog();
      expect(types(c)).toEqual(['m6i.fromdir']);
      expect(c.source).toContain(path.join(dir, 'aws', 'vms.csv'));
      expect(c.source).toContain('gcp: built-in'); // no gcp file in the dir nor the cache
      expect(await loadCatalog()).toBe(c); // memoized

      delete process.env.SKYRUN_CATALOG_DIR;
      c = await loadCatalog();
      expect(types(c)).toEqual(['m6i.fromcache']);

      rmSync(path.join(home, 'catalogs'), { recursive: true });
      process.env.SKYRUN_HOME = path.join(home, 'other');
      c = await loadCatalog();
      expect(c.source).toBe('aws: built-in; gcp: built-in');
      expect(types(c)).toContain('p4d.24xlarge');
      expect(c.offers('gcp', res({ accelerator: { name: 'A100', count: 8 } }), 1, 0)[0]!.instanceType).toBe(
        'a2-highgpu-8g',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the flat fixture layout (aws_vms.csv, gcp_vms.csv) loads', async () => {
    process.env.SKYRUN_CATALOG_DIR = FIXTURES;
    const c = await loadCatalogUncached();
    expect(c.stats('aws')).toMatchObject({ rows: 67, duplicates: 0 });
    expect(c.stats('gcp')).toMatchObject({ rows: 80, duplicates: 0 });
    expect(c.regions('aws')).toEqual(['eu-central-1', 'us-east-1', 'us-east-2', 'us-west-2']);
    // p5e.48xlarge: use2-az1 has only a spot price, use2-az2 has neither
    const h200 = c.offers('aws', res({ accelerator: { name: 'H200', count: 8 }, useSpot: true }), 1, 0);
    expect(h200.map((o) => [o.zones, o.hourlyPrice])).toEqual([[['use2-az1'], 62.9957]]);
    // g6.xlarge is only in euc1-az2 of eu-central-1
    expect(
      c.offers('aws', res({ accelerator: { name: 'L4', count: 1 }, infra: { region: 'eu-central-1' } }), 1, 0)[0]!
        .zones,
    ).toEqual(['euc1-az2']);
  });

  test('a SKYRUN_CATALOG_DIR that does not exist is an error, not a silent fallback', async () => {
    process.env.SKYRUN_CATALOG_DIR = path.join(home, 'nope');
    await expect(loadCatalogUncached()).rejects.toThrow(/SKYRUN_CATALOG_DIR=.*no such folder/);
  });
});

describe('catalog update', () => {
  let server: http.Server;
  let base: string;
  let hang: http.ServerResponse[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const file = { '/v8/aws/vms.csv': 'aws_vms.csv', '/v8/gcp/vms.csv': 'gcp_vms.csv' }[req.url ?? ''];
      if (req.url?.startsWith('/hang/')) {
        hang.push(res);
        return;
      }
      if (!file) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/csv' }).end(readFileSync(path.join(FIXTURES, file)));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const r of hang) r.destroy();
    hang = [];
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('downloads into the cache atomically, and the catalog then loads from it', async () => {
    const written = await updateCatalog({ url: `${base}/v8/`, timeoutMs: 5000 });
    const dest = path.join(home, 'catalogs', 'aws', 'vms.csv');
    expect(written).toEqual([dest, path.join(home, 'catalogs', 'gcp', 'vms.csv')]);
    expect(readFileSync(dest, 'utf8')).toBe(readFileSync(path.join(FIXTURES, 'aws_vms.csv'), 'utf8'));
    const c = await loadCatalog();
    expect(c.source).toContain(dest);
    expect(c.stats('gcp')!.rows).toBe(80);
  });

  test('a failed download keeps the old copy and says why in one line per cloud', async () => {
    await updateCatalog({ url: `${base}/v8`, clouds: ['aws'] });
    const dest = path.join(home, 'catalogs', 'aws', 'vms.csv');
    const before = readFileSync(dest, 'utf8');

    // connection refused: a port nothing listens on
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await updateCatalog({ url: `http://127.0.0.1:${port}`, clouds: ['aws', 'gcp'], timeoutMs: 3000 }).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const lines = (err as Error).message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^aws: could not download http:\/\/127\.0\.0\.1:\d+\/aws\/vms\.csv: connection refused \(offline\?\); kept the old copy/,
    );
    expect(lines[1]).toMatch(/^gcp: .*nothing cached yet; the built-in catalog stays in use\.$/);
    expect(readFileSync(dest, 'utf8')).toBe(before);
    expect(existsSync(path.join(home, 'catalogs', 'gcp', 'vms.csv'))).toBe(false);

    // a server that never answers: the timeout
    await expect(updateCatalog({ url: `${base}/hang`, clouds: ['aws'], timeoutMs: 300 })).rejects.toThrow(
      /aws: .*timed out/,
    );
    // 404 and a file that is not a catalog
    await expect(updateCatalog({ url: `${base}/missing`, clouds: ['aws'] })).rejects.toThrow(/HTTP 404/);
    expect(readFileSync(dest, 'utf8')).toBe(before);
  });

  const cli = (args: string[], env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }, (e, stdout, stderr) =>
        resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  test('skyrun catalog update: success and offline failure', async () => {
    const ok = await cli(['catalog', 'update', '--url', `${base}/v8`, '--clouds', 'gcp'], { SKYRUN_HOME: home });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^gcp: \d+ offers from http:\/\/127\.0\.0\.1:\d+\/v8\/gcp\/vms\.csv -> /);
    expect(existsSync(path.join(home, 'catalogs', 'gcp', 'vms.csv'))).toBe(true);

    const bad = await cli(['catalog', 'update', '--clouds', 'aws', '--timeout', '2'], {
      SKYRUN_HOME: home,
      SKYRUN_CATALOG_URL: `${base}/hang`,
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(
      /^aws: could not download .*\/hang\/aws\/vms\.csv: timed out \(offline\?\); nothing cached yet; the built-in catalog stays in use\.$/,
    );
  });
});
