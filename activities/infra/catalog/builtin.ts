/**
 * The small catalog SkyRun ships, used when neither SKYRUN_CATALOG_DIR nor a downloaded copy
 * (`skyrun catalog update`) exists. It is written as SkyPilot-schema CSV text so it goes through
 * the same reader as a downloaded catalog.
 *
 * The figures are SkyRun's own round approximations of public list prices (USD/hour, mid-2020s),
 * written by hand for this file: good enough to rank offers, not a price quote. Spot prices are
 * a rough fraction of on-demand that varies a little by zone. Run `skyrun catalog update` for
 * real, current prices.
 */

interface TypeSpec {
  type: string;
  vcpus: number;
  mem: number;
  /** on-demand price in the first region; other regions apply their factor */
  price: number;
  acc?: { name: string; count: number; memMiB: number };
  /** regions (by index into REGIONS) this type is not offered in */
  notIn?: number[];
}

interface CloudSpec {
  header: string;
  regions: Array<{ name: string; zones: string[]; factor: number }>;
  types: TypeSpec[];
  /** GCP: separate accelerator rows (empty InstanceType), priced on their own */
  accelerators?: Array<{ name: string; count: number; memMiB: number; price: number; notIn?: number[] }>;
  row(t: {
    type: string;
    accName: string;
    accCount: string;
    vcpus: string;
    mem: string;
    gpuInfo: string;
    price: string;
    spot: string;
    region: string;
    zone: string;
  }): string;
}

const SPOT_FRACTION = [0.38, 0.41, 0.44];

const AWS: CloudSpec = {
  header:
    'InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,AvailabilityZone,Arch',
  regions: [
    { name: 'us-east-1', zones: ['use1-az1', 'use1-az2', 'use1-az4'], factor: 1 },
    { name: 'us-west-2', zones: ['usw2-az1', 'usw2-az2', 'usw2-az3'], factor: 1 },
    { name: 'eu-central-1', zones: ['euc1-az1', 'euc1-az2'], factor: 1.12 },
  ],
  types: [
    { type: 'm6i.large', vcpus: 2, mem: 8, price: 0.096 },
    { type: 'm6i.xlarge', vcpus: 4, mem: 16, price: 0.192 },
    { type: 'm6i.2xlarge', vcpus: 8, mem: 32, price: 0.384 },
    { type: 'm6i.4xlarge', vcpus: 16, mem: 64, price: 0.768 },
    { type: 'g4dn.xlarge', vcpus: 4, mem: 16, price: 0.526, acc: { name: 'T4', count: 1, memMiB: 16384 } },
    { type: 'g5.xlarge', vcpus: 4, mem: 16, price: 1.006, acc: { name: 'A10G', count: 1, memMiB: 24576 } },
    { type: 'g6.xlarge', vcpus: 4, mem: 16, price: 0.805, acc: { name: 'L4', count: 1, memMiB: 24576 } },
    { type: 'p4d.24xlarge', vcpus: 96, mem: 1152, price: 21.96, acc: { name: 'A100', count: 8, memMiB: 40960 } },
    {
      type: 'p5.48xlarge',
      vcpus: 192,
      mem: 2048,
      price: 55.04,
      acc: { name: 'H100', count: 8, memMiB: 81920 },
      notIn: [2],
    },
  ],
  row: (t) =>
    [
      t.type,
      t.accName,
      t.accCount,
      t.vcpus,
      t.mem,
      t.gpuInfo && JSON.stringify(t.gpuInfo),
      t.price,
      t.spot,
      t.region,
      t.zone,
      'x86_64',
    ].join(','),
};

const GCP: CloudSpec = {
  header:
    'InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice',
  regions: [
    { name: 'us-central1', zones: ['us-central1-a', 'us-central1-b', 'us-central1-c'], factor: 1 },
    { name: 'us-east4', zones: ['us-east4-a', 'us-east4-c'], factor: 1.13 },
    { name: 'europe-west4', zones: ['europe-west4-a', 'europe-west4-b'], factor: 1.1 },
  ],
  types: [
    { type: 'n2-standard-2', vcpus: 2, mem: 8, price: 0.097 },
    { type: 'n2-standard-4', vcpus: 4, mem: 16, price: 0.194 },
    { type: 'n2-standard-8', vcpus: 8, mem: 32, price: 0.388 },
    { type: 'n1-standard-8', vcpus: 8, mem: 30, price: 0.38 },
    { type: 'g2-standard-4', vcpus: 4, mem: 16, price: 0.15 },
    { type: 'a2-highgpu-1g', vcpus: 12, mem: 85, price: 0.74, notIn: [1] },
    { type: 'a2-highgpu-8g', vcpus: 96, mem: 680, price: 5.92, notIn: [1] },
    { type: 'a3-highgpu-8g', vcpus: 208, mem: 1872, price: 9.46 },
  ],
  accelerators: [
    { name: 'T4', count: 1, memMiB: 16384, price: 0.35 },
    { name: 'L4', count: 1, memMiB: 24576, price: 0.56 },
    { name: 'A100', count: 1, memMiB: 40960, price: 2.93, notIn: [1] },
    { name: 'A100', count: 8, memMiB: 40960, price: 23.47, notIn: [1] },
    { name: 'H100', count: 8, memMiB: 81920, price: 78.8 },
  ],
  row: (t) => [t.type, t.vcpus, t.mem, t.accName, t.accCount, t.gpuInfo, t.region, t.zone, t.price, t.spot].join(','),
};

const money = (x: number) => String(Math.round(x * 1e5) / 1e5);

function render(spec: CloudSpec): string {
  const lines = [spec.header];
  const emit = (
    type: string,
    vcpus: string,
    mem: string,
    acc: { name: string; count: number; memMiB: number } | undefined,
    base: number,
    notIn?: number[],
  ) => {
    spec.regions.forEach((region, ri) => {
      if (notIn?.includes(ri)) return;
      region.zones.forEach((zone, zi) => {
        const price = base * region.factor;
        lines.push(
          spec.row({
            type,
            accName: acc?.name ?? '',
            accCount: acc ? String(acc.count) : '',
            vcpus,
            mem,
            gpuInfo: acc ? `{'Gpus': [{'MemoryInfo': {'SizeInMiB': ${acc.memMiB}}}]}` : '',
            price: money(price),
            spot: money(price * SPOT_FRACTION[zi % SPOT_FRACTION.length]!),
            region: region.name,
            zone,
          }),
        );
      });
    });
  };
  for (const t of spec.types) emit(t.type, t.vcpus.toFixed(1), t.mem.toFixed(1), t.acc, t.price, t.notIn);
  for (const a of spec.accelerators ?? []) emit('', '', '', a, a.price, a.notIn);
  return lines.join('\n') + '\n';
}

/** The shipped catalog of one cloud as CSV text, or undefined for a cloud it does not cover. */
export function builtinCsv(cloud: string): string | undefined {
  if (cloud === 'aws') return render(AWS);
  if (cloud === 'gcp') return render(GCP);
  return undefined;
}
