/**
 * Optimizer parity with SkyPilot 0.14 on the same catalog: for a table of requests, the first
 * offer (cloud, region, zone, instance type, hourly price of one node) is the one SkyPilot picks.
 *
 * The expected values were not taken from SkyRun's output: they were derived by applying
 * SkyPilot's own rules (sky/catalog/{aws,gcp}_catalog.py, common.py and sky/optimizer.py of
 * SkyPilot 0.14: default CPU families and 4 GiB/vCPU, GCP host sizes per GPU, one instance type
 * per cloud, then the cheapest region / zone) with test/fixtures/catalog/parity/derive.py (the
 * requests in requests.json there; python3, no SkyRun code) to the catalog rows in
 * test/fixtures/catalog/parity, exact line subsets of the real AWS and GCP catalogs in
 * the full shared catalogs (the same choices result on the full files). A few rows, to check by hand:
 *   gcp us-central1-a: n4-standard-2 0.0907, n2-standard-2 0.09712, e2-standard-2 0.06701 (not a
 *     default family), so `cpus: 2+` is n4-standard-2 at 0.0907 (SkyRun used to give n2-standard-2);
 *   T4:1 on GCP: SkyPilot's host is 4+ vCPUs and 16+ GiB on n1: n1-highmem-4 0.23661 + T4 0.35 =
 *     0.58661 in us-central1-a (SkyRun used to give n1-standard-8, 0.38 + 0.35);
 *   T4:1 spot: g4dn.xlarge in usw2-lax1-az1 at 0.0631 (a local zone of us-west-2).
 * Where an AWS offer is on demand the zone is not compared (SkyPilot asks for the whole region).
 *
 * Known deviations, pinned at the end: SkyRun refuses zero-priced rows (GCP's a4-highgpu-8g host
 * reads 0.0, which SkyPilot would price as free), and a catalog with none of a cloud's default
 * CPU families (the AWS subset here has m8i but no m6i/m7i/...) falls back to that cloud's
 * CPU-only x86 types where SkyPilot offers nothing on it.
 */
import * as path from 'node:path';
import { catalogOnlyProvider, loadCatalog } from '../activities/infra/catalog';
import { optimize } from '../activities/infra/optimizer';
import type { Quantity, Resources } from '../core/task';
import { useCatalogHome } from './helpers/sim';
import { REPO } from './helpers/skyrun';

const PARITY = path.join(REPO, 'test', 'fixtures', 'catalog', 'parity');
const providers = [catalogOnlyProvider('aws'), catalogOnlyProvider('gcp')];
const q = (s: string): Quantity => ({ value: Number(s.replace('+', '')), orMore: s.endsWith('+') });
const res = (r: Partial<Resources>): Resources => ({ infra: {}, useSpot: false, ports: [], labels: {}, ...r });

useCatalogHome('parity', PARITY);

interface Row {
  label: string;
  candidates: Partial<Resources>[];
  ordered?: boolean;
  numNodes?: number;
  /** cloud, region, zone tried first (undefined: the whole region), instance type, USD/h of one node */
  expect: [string, string, string | undefined, string, number];
}

const TABLE: Row[] = [
  {
    label: 'cpus 2+',
    candidates: [{ cpus: q('2+') }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n4-standard-2', 0.0907],
  },
  {
    label: 'no resources (default cpus 8+)',
    candidates: [{}],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n4-standard-8', 0.3628],
  },
  {
    label: 'cpus 4',
    candidates: [{ cpus: q('4') }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n4-standard-4', 0.1814],
  },
  {
    label: 'memory 64+',
    candidates: [{ memory: q('64+') }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n4-highmem-8', 0.47608],
  },
  {
    label: 'cpus 8, memory 8+',
    candidates: [{ cpus: q('8'), memory: q('8+') }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n2-highcpu-8', 0.28678],
  },
  {
    label: 'cpus 16+ gcp',
    candidates: [{ cpus: q('16+'), infra: { cloud: 'gcp' } }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n4-standard-16', 0.7256],
  },
  {
    label: 'cpus 4+ gcp/europe-west4',
    candidates: [{ cpus: q('4+'), infra: { cloud: 'gcp', region: 'europe-west4' } }],
    expect: ['gcp', 'europe-west4', 'europe-west4-a', 'n4-standard-4', 0.19047],
  },
  {
    label: 'T4:1',
    candidates: [{ accelerator: { name: 'T4', count: 1 } }],
    expect: ['aws', 'us-east-1', undefined, 'g4dn.xlarge', 0.526],
  },
  {
    label: 'T4:1 spot',
    candidates: [{ accelerator: { name: 'T4', count: 1 }, useSpot: true }],
    expect: ['aws', 'us-west-2', 'usw2-lax1-az1', 'g4dn.xlarge', 0.0631],
  },
  {
    label: 'T4:1 gcp',
    candidates: [{ accelerator: { name: 'T4', count: 1 }, infra: { cloud: 'gcp' } }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n1-highmem-4', 0.58661],
  },
  {
    label: 'T4:1 gcp spot',
    candidates: [{ accelerator: { name: 'T4', count: 1 }, useSpot: true, infra: { cloud: 'gcp' } }],
    expect: ['gcp', 'asia-southeast1', 'asia-southeast1-a', 'n1-highmem-4', 0.17122],
  },
  {
    label: 'T4:4 gcp',
    candidates: [{ accelerator: { name: 'T4', count: 4 }, infra: { cloud: 'gcp' } }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n1-standard-64', 4.43998],
  },
  {
    label: 'T4:1 cpus 8+ gcp',
    candidates: [{ accelerator: { name: 'T4', count: 1 }, cpus: q('8+'), infra: { cloud: 'gcp' } }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n1-highmem-8', 0.82321],
  },
  {
    label: 'T4:1 aws/us-west-2',
    candidates: [{ accelerator: { name: 'T4', count: 1 }, infra: { cloud: 'aws', region: 'us-west-2' } }],
    expect: ['aws', 'us-west-2', undefined, 'g4dn.xlarge', 0.526],
  },
  {
    label: 'V100:1',
    candidates: [{ accelerator: { name: 'V100', count: 1 } }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n1-highmem-8', 2.95321],
  },
  {
    label: 'V100:2 spot',
    candidates: [{ accelerator: { name: 'V100', count: 2 }, useSpot: true }],
    expect: ['gcp', 'asia-east1', 'asia-east1-c', 'n1-highmem-16', 1.13703],
  },
  {
    label: 'V100-32GB:8',
    candidates: [{ accelerator: { name: 'V100-32GB', count: 8 } }],
    expect: ['aws', 'us-east-1', undefined, 'p3dn.24xlarge', 31.212],
  },
  {
    label: 'P100:1',
    candidates: [{ accelerator: { name: 'P100', count: 1 } }],
    expect: ['gcp', 'us-central1', 'us-central1-c', 'n1-highmem-8', 1.93321],
  },
  {
    label: 'P4:2',
    candidates: [{ accelerator: { name: 'P4', count: 2 } }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'n1-highmem-16', 2.14642],
  },
  {
    label: 'L4:1',
    candidates: [{ accelerator: { name: 'L4', count: 1 } }],
    expect: ['gcp', 'us-east4', 'us-east4-a', 'g2-standard-4', 0.70452],
  },
  {
    label: 'L4:1 spot',
    candidates: [{ accelerator: { name: 'L4', count: 1 }, useSpot: true }],
    expect: ['aws', 'eu-south-2', 'eus2-az3', 'g6.xlarge', 0.0913],
  },
  {
    label: 'A10G:1',
    candidates: [{ accelerator: { name: 'A10G', count: 1 } }],
    expect: ['aws', 'us-east-1', undefined, 'g5.xlarge', 1.006],
  },
  {
    label: 'A100:1',
    candidates: [{ accelerator: { name: 'A100', count: 1 } }],
    expect: ['gcp', 'europe-west4', 'europe-west4-a', 'a2-highgpu-1g', 2.42771],
  },
  {
    label: 'A100:8',
    candidates: [{ accelerator: { name: 'A100', count: 8 } }],
    expect: ['gcp', 'europe-west4', 'europe-west4-a', 'a2-highgpu-8g', 19.4217],
  },
  {
    label: 'A100-80GB:8',
    candidates: [{ accelerator: { name: 'A100-80GB', count: 8 } }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'a2-ultragpu-8g', 23.56656],
  },
  {
    label: 'H100:1',
    candidates: [{ accelerator: { name: 'H100', count: 1 } }],
    expect: ['gcp', 'us-central1', 'us-central1-a', 'a3-highgpu-1g', 5.38327],
  },
  {
    label: 'H100:8 spot',
    candidates: [{ accelerator: { name: 'H100', count: 8 }, useSpot: true }],
    expect: ['gcp', 'europe-north1', 'europe-north1-c', 'a3-highgpu-8g', 9.37674],
  },
  {
    label: 'H200:8',
    candidates: [{ accelerator: { name: 'H200', count: 8 } }],
    expect: ['gcp', 'asia-south1', 'asia-south1-b', 'a3-ultragpu-8g', 49.35922],
  },
  {
    label: 'L40S:4',
    candidates: [{ accelerator: { name: 'L40S', count: 4 } }],
    expect: ['aws', 'us-east-1', undefined, 'g6e.12xlarge', 10.49264],
  },
  {
    label: 'any_of A100:8, H100:8',
    candidates: [{ accelerator: { name: 'A100', count: 8 } }, { accelerator: { name: 'H100', count: 8 } }],
    expect: ['gcp', 'europe-west4', 'europe-west4-a', 'a2-highgpu-8g', 19.4217],
  },
  {
    label: 'ordered H100:8 gcp, A100:8',
    candidates: [
      { accelerator: { name: 'H100', count: 8 }, infra: { cloud: 'gcp' } },
      { accelerator: { name: 'A100', count: 8 } },
    ],
    ordered: true,
    expect: ['gcp', 'us-central1', 'us-central1-a', 'a3-highgpu-8g', 43.06615],
  },
  {
    label: '4 nodes L4:1',
    candidates: [{ accelerator: { name: 'L4', count: 1 } }],
    numNodes: 4,
    expect: ['gcp', 'us-east4', 'us-east4-a', 'g2-standard-4', 0.70452],
  },
  {
    label: '2 nodes cpus 4+ spot gcp',
    candidates: [{ cpus: q('4+'), useSpot: true, infra: { cloud: 'gcp' } }],
    numNodes: 2,
    expect: ['gcp', 'asia-south2', 'asia-south2-a', 'n4-standard-4', 0.03294],
  },
  {
    label: 'p4d.24xlarge spot',
    candidates: [{ instanceType: 'p4d.24xlarge', useSpot: true }],
    expect: ['aws', 'us-east-1', 'use1-az1', 'p4d.24xlarge', 2.4655],
  },
  {
    label: 'n2-standard-8 gcp/us-east4',
    candidates: [{ instanceType: 'n2-standard-8', infra: { cloud: 'gcp', region: 'us-east4' } }],
    expect: ['gcp', 'us-east4', 'us-east4-a', 'n2-standard-8', 0.43751],
  },
];

async function first(row: Pick<Row, 'candidates' | 'ordered' | 'numNodes'>) {
  const req = { candidates: row.candidates.map(res), ordered: !!row.ordered, numNodes: row.numNodes ?? 1 };
  return (await optimize(req, { providers })).offers[0];
}

test.each(TABLE)('$label: as SkyPilot', async (row) => {
  const o = await first(row);
  const [cloud, region, zone, instanceType, price] = row.expect;
  expect(o).toBeDefined();
  expect({ cloud: o!.cloud, region: o!.region, instanceType: o!.instanceType }).toEqual({
    cloud,
    region,
    instanceType,
  });
  expect(o!.hourlyPrice).toBeCloseTo(price, 6);
  expect(o!.numNodes).toBe(row.numNodes ?? 1);
  if (zone !== undefined) expect(o!.zones[0]).toBe(zone);
});

test('the table covers CPU, memory, every GPU kind of the catalogs, spot, infra, any_of, ordered, multi-node', async () => {
  const kinds = new Set(TABLE.flatMap((r) => r.candidates.map((c) => c.accelerator?.name).filter(Boolean)));
  const catalog = await loadCatalog();
  const gpus = catalog.acceleratorNames().filter((n) => !n.startsWith('tpu-') && n !== 'B200');
  expect(gpus.filter((g) => !kinds.has(g))).toEqual([]);
  expect(TABLE.length).toBeGreaterThanOrEqual(20);
});

describe('known deviations from SkyPilot on these catalogs', () => {
  test('a zero-priced host (GCP a4-highgpu-8g) is not offered: ordered [B200:8, L4:1 spot] takes L4', async () => {
    // SkyPilot would pick B200:8 at 64.44 in asia-northeast1-b (host row 0.0 + accelerator 64.44)
    const o = await first({
      candidates: [
        { accelerator: { name: 'B200', count: 8 } },
        { accelerator: { name: 'L4', count: 1 }, useSpot: true },
      ],
      ordered: true,
    });
    expect(o).toMatchObject({ cloud: 'aws', region: 'eu-south-2', instanceType: 'g6.xlarge', hourlyPrice: 0.0913 });
  });

  test('no default CPU family in the AWS catalog: its x86 CPU types stand in (SkyPilot: nothing on AWS)', async () => {
    const aws = await first({ candidates: [{ cpus: q('2+'), infra: { cloud: 'aws' } }] });
    expect(aws).toMatchObject({ cloud: 'aws', region: 'us-east-1', instanceType: 'm8i.large', hourlyPrice: 0.10584 });
    // ...which then undercuts SkyPilot's gcp n4-standard-2 spot at 0.01647 (asia-south2-a)
    const spot = await first({ candidates: [{ cpus: q('2+'), useSpot: true }] });
    expect(spot).toMatchObject({ cloud: 'aws', instanceType: 'm8i.large', hourlyPrice: 0.0146 });
    const gcp = await first({ candidates: [{ cpus: q('2+'), useSpot: true, infra: { cloud: 'gcp' } }] });
    expect(gcp).toMatchObject({ region: 'asia-south2', zones: ['asia-south2-a', 'asia-south2-b', 'asia-south2-c'] });
    expect(gcp).toMatchObject({ instanceType: 'n4-standard-2', hourlyPrice: 0.01647 });
  });
});

describe('zones are tried cheapest first', () => {
  test('T4:1 spot in us-west-2: the local zone at the quoted 0.0631 first, not usw2-az1 at 0.2464', async () => {
    const o = await first({ candidates: [{ accelerator: { name: 'T4', count: 1 }, useSpot: true }] });
    expect(o).toMatchObject({ region: 'us-west-2', hourlyPrice: 0.0631 });
    // g4dn.xlarge spot rows of us-west-2: az1 0.2464, az2 0.2479, az3 0.2386, lax1-az1 0.0631, lax1-az2 0.0723
    expect(o!.zones).toEqual(['usw2-lax1-az1', 'usw2-lax1-az2', 'usw2-az3', 'usw2-az1', 'usw2-az2']);
  });

  test('every offer: its first zone is at its quoted price, and the zones rise in price', async () => {
    const catalog = await loadCatalog();
    for (const cloud of ['aws', 'gcp']) {
      const price = new Map<string, number>();
      for (const e of catalog.entries(cloud)) {
        if (e.spotPrice !== undefined && e.zone)
          price.set(`${e.instanceType}|${e.accelerator?.name}|${e.accelerator?.count}|${e.zone}`, e.spotPrice);
      }
      const requests: Partial<Resources>[] = [
        { accelerator: { name: 'T4', count: 1 }, useSpot: true, infra: { cloud } },
        { accelerator: { name: 'A100', count: 8 }, useSpot: true, infra: { cloud } },
        { cpus: q('2+'), useSpot: true, infra: { cloud } },
      ];
      for (const r of requests) {
        const { offers } = await optimize({ candidates: [res(r)], ordered: false, numNodes: 1 }, { providers });
        expect(offers.length).toBeGreaterThan(0);
        for (const o of offers) {
          const zp = o.zones.map((z) =>
            price.get(`${o.instanceType}|${o.accelerator?.name}|${o.accelerator?.count}|${z}`)!,
          );
          expect(zp[0]).toBeCloseTo(o.hourlyPrice, 9);
          expect(zp.every((p, i) => i === 0 || zp[i - 1]! <= p)).toBe(true);
        }
      }
    }
  });
});
