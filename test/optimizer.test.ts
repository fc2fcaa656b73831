/**
 * The optimizer over catalog-priced clouds: Catalog.offers per candidate and the ranking
 * (any_of, ordered, blocklist with wildcard scopes, stable ties), through `optimize` with
 * offers-only aws/gcp providers (catalogOnlyProvider: the same offers as the real adapters,
 * without credentials), plus the CLI's show-gpus and optimize, over the catalog rows in
 * test/fixtures/catalog/subset.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { catalogOnlyProvider, loadCatalog } from '../activities/infra/catalog';
import { noOfferMessage, optimize, rankOffers, type OptimizeRequest } from '../activities/infra/optimizer';
import type { Block, Offer } from '../core/offers';
import type { Resources } from '../core/task';
import { CLI, REPO } from './helpers/skyrun';
import { CATALOG_SUBSET, useCatalogHome } from './helpers/sim';

const res = (r: Partial<Resources> = {}): Resources => ({ infra: {}, useSpot: false, ports: [], labels: {}, ...r });
const providers = [catalogOnlyProvider('aws'), catalogOnlyProvider('gcp')];

const home = useCatalogHome('optimizer', CATALOG_SUBSET);

async function plan(
  candidates: Partial<Resources>[],
  opts: { ordered?: boolean; blocks?: Block[]; numNodes?: number } = {},
) {
  const req: OptimizeRequest = {
    candidates: candidates.map(res),
    ordered: !!opts.ordered,
    numNodes: opts.numNodes ?? 1,
    blocks: opts.blocks,
  };
  return { req, result: await optimize(req, { providers }) };
}
const sortedByPrice = (offers: Offer[]) =>
  offers.every((o, i) => i === 0 || offers[i - 1]!.hourlyPrice <= o.hourlyPrice);

test('A100:8: the cheapest is GCP a2-highgpu-8g in europe-west4 (host 6.51251 + A100:8 12.90919), then the rest by price', async () => {
  const { result } = await plan([{ accelerator: { name: 'A100', count: 8 } }]);
  expect(result.enabled).toEqual(['aws', 'gcp']);
  expect(result.offers[0]).toMatchObject({
    cloud: 'gcp',
    region: 'europe-west4',
    zones: ['europe-west4-a', 'europe-west4-b'],
    instanceType: 'a2-highgpu-8g',
    hourlyPrice: 19.4217,
    accelerator: { name: 'A100', count: 8 },
    vcpus: 96,
    candidate: 0,
    spot: false,
  });
  expect(sortedByPrice(result.offers)).toBe(true);
  const aws = result.offers.find((o) => o.cloud === 'aws')!;
  expect(aws).toMatchObject({ region: 'us-east-2', instanceType: 'p4d.24xlarge', hourlyPrice: 21.95764 });
  expect(new Set(result.offers.map((o) => `${o.cloud}/${o.region}/${o.instanceType}`)).size).toBe(result.offers.length);
});

test('{A100:8, H100:8} spot (any_of): one ranking across both candidates', async () => {
  const { result } = await plan([
    { accelerator: { name: 'A100', count: 8 }, useSpot: true },
    { accelerator: { name: 'H100', count: 8 }, useSpot: true },
  ]);
  expect(result.offers[0]).toMatchObject({
    cloud: 'aws',
    instanceType: 'p4d.24xlarge',
    region: 'us-east-1',
    hourlyPrice: 2.4655,
    spot: true,
    candidate: 0,
  });
  expect(sortedByPrice(result.offers)).toBe(true);
  const firstH100 = result.offers.findIndex((o) => o.candidate === 1);
  const lastA100 = result.offers.map((o) => o.candidate).lastIndexOf(0);
  expect(firstH100).toBeGreaterThan(0);
  expect(firstH100).toBeLessThan(lastA100); // interleaved by price
  expect(result.offers[firstH100]).toMatchObject({
    cloud: 'gcp',
    instanceType: 'a3-highgpu-8g',
    region: 'europe-north1',
    hourlyPrice: 9.37674,
  });
});

test('ordered keeps the user order, cheapest first within each', async () => {
  const { result } = await plan(
    [{ accelerator: { name: 'H100', count: 8 } }, { accelerator: { name: 'A100', count: 8 } }],
    { ordered: true },
  );
  const firstA100 = result.offers.findIndex((o) => o.candidate === 1);
  expect(firstA100).toBeGreaterThan(0);
  expect(result.offers.slice(0, firstA100).every((o) => o.candidate === 0)).toBe(true);
  expect(result.offers.slice(firstA100).every((o) => o.candidate === 1)).toBe(true);
  expect(sortedByPrice(result.offers.slice(0, firstA100))).toBe(true);
  expect(sortedByPrice(result.offers.slice(firstA100))).toBe(true);
  expect(result.offers[0]!.accelerator!.name).toBe('H100');
});

test('cpus: 8+ with infra gcp gives n2-standard-8 first; no request at all is SkyPilot default 8+ vCPUs', async () => {
  const { result } = await plan([{ cpus: { value: 8, orMore: true }, infra: { cloud: 'gcp' } }]);
  expect(result.offers.every((o) => o.cloud === 'gcp')).toBe(true);
  expect(result.offers[0]).toMatchObject({
    instanceType: 'n2-standard-8',
    vcpus: 8,
    memoryGiB: 32,
    hourlyPrice: 0.38847,
  });
  const any = await plan([{}]);
  expect(any.result.offers[0]).toMatchObject({ cloud: 'gcp', instanceType: 'n2-standard-8' });
  expect(any.result.offers.find((o) => o.cloud === 'aws')).toMatchObject({ instanceType: 'm8i.4xlarge', vcpus: 16 });
  const exact = await plan([{ cpus: { value: 2, orMore: false }, infra: { cloud: 'aws' } }]);
  expect(exact.result.offers.every((o) => o.instanceType === 'm8i.large')).toBe(true);
});

test('instance_type pins the type', async () => {
  const { result } = await plan([{ instanceType: 'p4d.24xlarge' }]);
  expect(result.offers.length).toBeGreaterThan(5);
  expect(result.offers.every((o) => o.cloud === 'aws' && o.instanceType === 'p4d.24xlarge')).toBe(true);
  const mismatch = await plan([{ instanceType: 'p4d.24xlarge', accelerator: { name: 'H100', count: 8 } }]);
  expect(mismatch.result.offers).toEqual([]);
});

test('region and zone restrictions', async () => {
  const region = await plan([
    { accelerator: { name: 'A100', count: 8 }, infra: { cloud: 'aws', region: 'eu-central-1' } },
  ]);
  expect(region.result.offers.length).toBe(1);
  expect(region.result.offers[0]).toMatchObject({ cloud: 'aws', region: 'eu-central-1' });
  const zone = await plan([
    { accelerator: { name: 'A100', count: 1 }, infra: { region: 'us-central1', zone: 'us-central1-b' } },
  ]);
  expect(zone.result.offers.map((o) => [o.cloud, o.zones])).toEqual([['gcp', ['us-central1-b']]]);
  const anyCloudZone = await plan([{ accelerator: { name: 'A100', count: 8 }, infra: { zone: 'use1-az2' } }]);
  expect(anyCloudZone.result.offers.map((o) => `${o.cloud}/${o.zones}`)).toEqual(['aws/use1-az2']);
});

test('the blocklist: zone, region, cloud and instance type, with wildcards', async () => {
  const a100 = [{ accelerator: { name: 'A100', count: 8 } }];
  const zone = await plan(a100, { blocks: [{ cloud: 'gcp', region: 'europe-west4', zone: 'europe-west4-a' }] });
  expect(zone.result.offers[0]).toMatchObject({ cloud: 'gcp', region: 'europe-west4', zones: ['europe-west4-b'] });
  const region = await plan(a100, { blocks: [{ cloud: 'gcp', region: 'europe-west4' }] });
  expect(region.result.offers[0]).toMatchObject({ cloud: 'gcp', region: 'asia-southeast1' });
  const cloud = await plan(a100, { blocks: [{ cloud: 'gcp' }] });
  expect(cloud.result.offers.every((o) => o.cloud === 'aws')).toBe(true);
  const anyCloudZones = await plan(a100, { blocks: [{ zone: 'europe-west4-a' }, { zone: 'europe-west4-b' }] });
  expect(anyCloudZones.result.offers.some((o) => o.region === 'europe-west4')).toBe(false);
  const type = await plan(a100, { blocks: [{ instanceType: 'a2-highgpu-8g' }] });
  expect(type.result.offers.every((o) => o.instanceType === 'p4d.24xlarge')).toBe(true);
  const all = await plan(a100, { blocks: [{}] });
  expect(all.result.offers).toEqual([]);
});

test('rankOffers: stable on ties, blocks applied per zone', () => {
  const o = (cloud: string, price: number, candidate: number, zones = ['z1']): Offer => ({
    cloud,
    region: 'r',
    zones,
    instanceType: `${cloud}-t`,
    spot: false,
    hourlyPrice: price,
    numNodes: 1,
    vcpus: 1,
    memoryGiB: 1,
    candidate,
  });
  const ranked = rankOffers(
    [
      [o('a', 2, 0), o('b', 1, 0)],
      [o('c', 1, 1), o('d', 1, 1, ['z1', 'z2'])],
    ],
    false,
    [{ cloud: 'd', zone: 'z1' }],
  );
  expect(ranked.map((x) => `${x.cloud}:${x.zones}`)).toEqual(['b:z1', 'c:z1', 'd:z2', 'a:z1']);
  expect(rankOffers([[o('a', 2, 0), o('b', 1, 0)], [o('c', 0.5, 1)]], true).map((x) => x.cloud)).toEqual([
    'b',
    'a',
    'c',
  ]);
});

test('nothing satisfies: the message names the request and suggests offered accelerators', async () => {
  const { req, result } = await plan([{ accelerator: { name: 'A10O', count: 8 } }]);
  expect(result.offers).toEqual([]);
  expect(result.nearestAccelerators).toContain('A100');
  const msg = noOfferMessage(req, result);
  expect(msg).toContain('1x [A10O:8]');
  expect(msg).toMatch(/Try one of these offered accelerators: .*A100/);
  expect(msg).toContain('skyrun show-gpus');
  expect((await loadCatalog()).nearestAccelerators('a10o')).toEqual(expect.arrayContaining(['A100', 'A10G']));
});

describe('CLI', () => {
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [CLI, ...args],
        { cwd: REPO, env: { ...process.env, SKYRUN_CATALOG_DIR: CATALOG_SUBSET, SKYRUN_HOME: home(), ...env } },
        (e, stdout, stderr) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  test('skyrun show-gpus lists accelerators; with A100:8 each cloud at its cheapest region', async () => {
    const all = await cli(['show-gpus']);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/^ACCELERATOR\s+AWS COUNTS\s+GCP COUNTS/);
    expect(all.stdout).toMatch(/^A100\s+8\s+1, 2, 4, 8, 16$/m);
    expect(all.stdout).not.toMatch(/^tpu-/m);
    const a100 = await cli(['show-gpus', 'A100:8']);
    expect(a100.code).toBe(0);
    expect(a100.stdout).toMatch(
      /^A100\s+8\s+aws\s+p4d\.24xlarge\s+40GB\s+96\s+1152GB\s+\$ 21\.96\s+\$ 2\.47\s+us-east-2$/m,
    );
    expect(a100.stdout).toMatch(
      /^A100\s+8\s+gcp\s+a2-highgpu-8g\s+40GB\s+96\s+680GB\s+\$ 19\.42\s+\$ 12\.49\s+europe-west4$/m,
    );
    const gcpOnly = await cli(['show-gpus', 'T4', '--infra', 'gcp']);
    expect(gcpOnly.stdout).toMatch(/^T4\s+1\s+gcp\s+n1-standard-8\s/m);
    expect(gcpOnly.stdout).not.toMatch(/aws/);
    const typo = await cli(['show-gpus', 'A10O']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/offers no A10O\. Try one of these offered accelerators: A100, A10G\./);
  });

  test('skyrun optimize prints the considered resources of enabled infra and exits', async () => {
    const r = await cli(['optimize', '--', 'echo', 'hi']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/INFRA\s+INSTANCE\s+vCPUs\s+Mem\(GB\)\s+GPUS\s+COST \(\$\/hr\)\s+CHOSEN/);
    expect(r.stdout).toMatch(/^local\s+local-\S+.*✔$/m);
    const typo = await cli(['optimize', '--gpus', 'A10O:8', '--', 'echo', 'hi']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('No enabled infra offers 1x [A10O:8]');
    expect(typo.stderr).toMatch(/Try one of these offered accelerators: .*A100/);
    // offered by the catalog, but no enabled infra has it: say where, and how to plan there
    const off = await cli(['optimize', '--gpus', 'A100:8', '--', 'x']);
    expect(off.code).toBe(1);
    expect(off.stderr).toContain('The catalog offers it on aws, gcp, not enabled here');
    expect(off.stderr).not.toContain('Try one of these');
    const plan = await cli(['optimize', '--catalog', '--gpus', 'A100:8', '--', 'x']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/^gcp \(europe-west4\)\s+a2-highgpu-8g\s+96\s+680\s+A100:8\s+19\.42\s+✔$/m);
    expect(plan.stdout).toMatch(/^aws \(us-east-2\)\s+p4d\.24xlarge\s+96\s+1152\s+A100:8\s+21\.96\s*$/m);
  });

  test('skyrun launch --dryrun --gpus A100:8 on the sim infra (aws catalog) prints the cheapest A100:8 and starts nothing', async () => {
    const simHome = mkdtempSync(path.join(os.tmpdir(), 'skyrun-optimizer-sim-'));
    try {
      writeFileSync(path.join(simHome, 'sim.yaml'), 'catalog_cloud: aws\n');
      const r = await cli(['launch', '--dryrun', '--gpus', 'A100:8', '--', 'nvidia-smi'], { SKYRUN_HOME: simHome });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^sim \(us-east-2\)\s+p4d\.24xlarge\s+96\s+1152\s+A100:8\s+21\.96\s+✔$/m);
      // no dev server, no worker: nothing was started
      expect(existsSync(path.join(simHome, 'server'))).toBe(false);
      expect(existsSync(path.join(simHome, 'worker.json'))).toBe(false);
      const all = await cli(['optimize', '-a', '--gpus', 'A100:8', '--num-nodes', '2', '--', 'x'], {
        SKYRUN_HOME: simHome,
      });
      expect(all.stdout).toContain('Considered resources (2 nodes)');
      expect(all.stdout).toMatch(/^sim \(us-east-2\)\s+p4d\.24xlarge\s+96\s+1152\s+A100:8\s+43\.92\s+✔$/m);
      expect(all.stdout.split('\n').filter((l) => l.startsWith('sim (')).length).toBeGreaterThan(5);
    } finally {
      rmSync(simHome, { recursive: true, force: true });
    }
  });
});

test('docker images: local and sim offers are left out (per region of an image map); the message says why', async () => {
  const localOffer = (candidate: number): Offer => ({
    cloud: 'local',
    region: 'local',
    zones: [],
    instanceType: 'local',
    spot: false,
    hourlyPrice: 0,
    numNodes: 1,
    vcpus: 0,
    memoryGiB: 0,
    candidate,
  });
  const local = {
    name: 'local',
    check: async () => ({ enabled: true }),
    offers: async (_r: Resources, _n: number, candidate: number) => [localOffer(candidate)],
  } as unknown as (typeof providers)[number];
  const req = (imageId: Resources['imageId']): OptimizeRequest => ({
    candidates: [res({ imageId, cpus: { value: 2, orMore: false } })],
    ordered: false,
    numNodes: 1,
  });
  const docker = await optimize(req('docker:ubuntu:22.04'), { providers: [local, ...providers] });
  expect(docker.offers.length).toBeGreaterThan(0);
  expect(docker.offers.some((o) => o.cloud === 'local')).toBe(false);
  const vm = await optimize(req('ami-0123'), { providers: [local, ...providers] });
  expect(vm.offers[0]!.cloud).toBe('local'); // free, first
  // an image map: docker only where its region says so
  const map = await optimize(req({ 'us-east-1': 'docker:ubuntu:22.04', local: 'docker:ubuntu:22.04' }), {
    providers: [local, ...providers],
  });
  expect(map.offers.some((o) => o.cloud === 'local')).toBe(false);
  expect(map.offers.some((o) => o.region === 'us-east-1')).toBe(true);
  const noLocal = await optimize(req({ 'us-east-1': 'docker:ubuntu:22.04' }), { providers: [local] });
  expect(noLocal.offers.map((o) => o.cloud)).toEqual(['local']);

  const onlyLocal = req('docker:ubuntu:22.04');
  const none = await optimize(onlyLocal, { providers: [local] });
  expect(none.offers).toEqual([]);
  expect(noOfferMessage(onlyLocal, none)).toContain(
    'Hint: docker images (image_id: docker:...) need infra that runs containers (aws, gcp, kubernetes, ssh); local and sim run tasks as processes of this machine.',
  );
});
