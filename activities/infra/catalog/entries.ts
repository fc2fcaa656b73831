/**
 * From a SkyPilot catalog CSV to catalog entries: instance rows as they are, and (GCP) hostless
 * accelerator rows joined to the host VMs they attach to, priced as host + accelerator.
 */
import { parseCsv } from './csv';

/** One offering of the catalog: an instance type (with its accelerators) in a region or zone, priced. */
export interface CatalogEntry {
  cloud: string;
  instanceType: string;
  accelerator?: { name: string; count: number; memoryGiB?: number };
  vcpus: number;
  memoryGiB: number;
  region: string;
  zone?: string;
  price?: number;
  spotPrice?: number;
  arch?: string;
}

// GCP host VMs for accelerator rows. Fixed hosts: the VM type that comes with N accelerators.
const GCP_FIXED_HOSTS: Record<string, Record<number, string[]>> = {
  a100: {
    1: ['a2-highgpu-1g'],
    2: ['a2-highgpu-2g'],
    4: ['a2-highgpu-4g'],
    8: ['a2-highgpu-8g'],
    16: ['a2-megagpu-16g'],
  },
  'a100-80gb': { 1: ['a2-ultragpu-1g'], 2: ['a2-ultragpu-2g'], 4: ['a2-ultragpu-4g'], 8: ['a2-ultragpu-8g'] },
  h100: { 1: ['a3-highgpu-1g'], 2: ['a3-highgpu-2g'], 4: ['a3-highgpu-4g'], 8: ['a3-highgpu-8g'] },
  'h100-mega': { 8: ['a3-megagpu-8g'] },
  h200: { 8: ['a3-ultragpu-8g'] },
  b200: { 8: ['a4-highgpu-8g'] },
  l4: {
    1: ['g2-standard-4', 'g2-standard-8', 'g2-standard-12', 'g2-standard-16', 'g2-standard-32'],
    2: ['g2-standard-24'],
    4: ['g2-standard-48'],
    8: ['g2-standard-96'],
  },
};
/** VM families that exist only with their accelerators on GCP; their rows are not CPU offers. */
const GCP_GPU_FAMILIES = /^(a2|a3|a4|g2)-/;
/**
 * Other GPUs (T4, P4, V100, P100) attach to an n1 host of the standard, highmem or highcpu family
 * (SkyPilot's _DEFAULT_HOST_VM_FAMILY): Catalog.offers picks one host type for the request.
 */
const GCP_FLEXIBLE_HOST = /^n1-(standard|highmem|highcpu)-/;
/**
 * SkyPilot's default host size for N of a GPU on an n1 host when the request gives neither cpus
 * nor memory (its _NUM_ACC_TO_NUM_CPU): that many vCPUs or more, and 4 GiB of memory per vCPU
 * or more; names not listed use DEFAULT.
 */
export const GCP_HOST_DEFAULT_CPUS: Record<string, Record<number, number>> = {
  v100: { 1: 8, 2: 16, 4: 32, 8: 64 },
  t4: { 1: 4, 2: 8, 4: 48 },
  p100: { 1: 8, 2: 16, 4: 32, 8: 64 },
  default: { 1: 8, 2: 16, 4: 32, 8: 64, 16: 128 },
};
/** GiB of host memory per requested vCPU when the request gives cpus but no memory (SkyPilot's ratio 4). */
export const GCP_HOST_MEMORY_PER_CPU = 4;
/** GCP's largest n1 host (vCPUs, memory GiB) for N of a GPU (GCP GPU docs, as SkyPilot's table). */
const GCP_N1_MAX: Record<string, Record<number, [number, number]>> = {
  t4: { 1: [48, 312], 2: [48, 312], 4: [96, 624] },
  p4: { 1: [24, 156], 2: [48, 312], 4: [96, 624] },
  v100: { 1: [12, 78], 2: [24, 156], 4: [48, 312], 8: [96, 624] },
  p100: { 1: [16, 104], 2: [32, 208], 4: [96, 624] },
};

/** Internal entry: a CatalogEntry plus what the GCP join knows about its host. */
export interface Entry extends CatalogEntry {
  /** accelerator on a flexible (n1) host chosen to fit the request */
  flexibleHost?: boolean;
  /** this flexible host is its zone's default one (the cheapest of SkyPilot's default size), for show-gpus */
  defaultHost?: boolean;
  /** GCP accelerators: the host VM's own on-demand price (SkyPilot picks the host type by it) */
  hostPrice?: number;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (t === '') return undefined;
  const v = Number(t);
  return Number.isFinite(v) ? v : undefined;
}
/** A price the catalog offers: present and > 0. */
function positive(s: string | undefined): number | undefined {
  const v = num(s);
  return v !== undefined && v > 0 ? v : undefined;
}

interface Raw {
  type: string;
  accName: string;
  accCount?: number;
  vcpus: number;
  mem: number;
  gpuMemGiB?: number;
  price?: number;
  spot?: number;
  region: string;
  zone: string;
  arch?: string;
}

const REQUIRED = [
  'InstanceType',
  'AcceleratorName',
  'AcceleratorCount',
  'vCPUs',
  'MemoryGiB',
  'Price',
  'SpotPrice',
  'Region',
];

/** The rows of a SkyPilot catalog CSV, typed; `where` names the source in errors. */
function rawRows(text: string, where: string): { raws: Raw[]; rows: number; duplicates: number } {
  const t = parseCsv(text, { dedupe: true });
  const col = (name: string) => t.header.indexOf(name);
  for (const c of REQUIRED) {
    if (col(c) < 0) throw new Error(`${where}: not a SkyPilot catalog (no '${c}' column in its header)`);
  }
  const [cType, cAcc, cCount, cCpu, cMem, cGpu, cPrice, cSpot, cRegion, cZone, cArch] = [
    'InstanceType',
    'AcceleratorName',
    'AcceleratorCount',
    'vCPUs',
    'MemoryGiB',
    'GpuInfo',
    'Price',
    'SpotPrice',
    'Region',
    'AvailabilityZone',
    'Arch',
  ].map(col) as number[];
  const raws: Raw[] = [];
  for (const f of t.rows) {
    const region = (f[cRegion!] ?? '').trim();
    if (!region) continue;
    const gpuInfo = cGpu! >= 0 ? f[cGpu!] : undefined;
    const mib = gpuInfo ? /'SizeInMiB':\s*(\d+)/.exec(gpuInfo) : null;
    raws.push({
      type: (f[cType!] ?? '').trim(),
      accName: (f[cAcc!] ?? '').trim(),
      accCount: num(f[cCount!]),
      vcpus: num(f[cCpu!]) ?? 0,
      mem: num(f[cMem!]) ?? 0,
      gpuMemGiB: mib ? Number(mib[1]) / 1024 : undefined,
      price: positive(f[cPrice!]),
      spot: positive(f[cSpot!]),
      region,
      zone: cZone! >= 0 ? (f[cZone!] ?? '').trim() : '',
      arch: cArch! >= 0 ? (f[cArch!] ?? '').trim() || undefined : undefined,
    });
  }
  return { raws, rows: t.rows.length, duplicates: t.duplicates };
}

const accelOf = (r: Raw) =>
  r.accName && r.accCount
    ? { name: r.accName, count: r.accCount, ...(r.gpuMemGiB ? { memoryGiB: r.gpuMemGiB } : {}) }
    : undefined;

/** What instance rows tell the accelerator rows: hosts by zone and type, and GCP's n1 hosts by zone. */
interface Hosts {
  byZoneType: Map<string, Raw>;
  n1ByZone: Map<string, Raw[]>;
}

/** Entries of one cloud from its CSV text; `where` names the source in errors. */
export function entriesFromCsv(
  cloud: string,
  text: string,
  where: string,
): { entries: Entry[]; rows: number; duplicates: number } {
  const { raws, rows, duplicates } = rawRows(text, where);
  const entries: Entry[] = [];
  const push = (e: Entry) => {
    if (e.price !== undefined || e.spotPrice !== undefined) entries.push(e);
  };
  const hosts: Hosts = { byZoneType: new Map(), n1ByZone: new Map() };
  const accelRows: Raw[] = [];
  for (const r of raws) {
    if (!r.type) {
      if (r.accName && r.accCount) accelRows.push(r);
      continue;
    }
    instanceEntry(cloud, r, hosts, push);
  }
  for (const list of hosts.n1ByZone.values()) list.sort((a, b) => a.vcpus - b.vcpus || a.mem - b.mem);
  for (const a of accelRows) acceleratorEntries(cloud, a, hosts, push);
  return { entries, rows, duplicates };
}

/** An instance row: its entry, and what it offers accelerator rows as a host. */
function instanceEntry(cloud: string, r: Raw, hosts: Hosts, push: (e: Entry) => void): void {
  const key = `${r.zone}|${r.type}`;
  if (!hosts.byZoneType.has(key)) hosts.byZoneType.set(key, r);
  if (GCP_FLEXIBLE_HOST.test(r.type)) {
    const list = hosts.n1ByZone.get(r.zone) ?? [];
    list.push(r);
    hosts.n1ByZone.set(r.zone, list);
  }
  if (cloud === 'gcp' && !r.accName && GCP_GPU_FAMILIES.test(r.type)) return; // offered with its accelerator only
  push({
    cloud,
    instanceType: r.type,
    accelerator: accelOf(r),
    vcpus: r.vcpus,
    memoryGiB: r.mem,
    region: r.region,
    zone: r.zone || undefined,
    price: r.price,
    spotPrice: r.spot,
    arch: r.arch,
  });
}

/** A hostless accelerator row (GCP): a TPU VM, or the accelerator on each host it can attach to. */
function acceleratorEntries(cloud: string, a: Raw, hosts: Hosts, push: (e: Entry) => void): void {
  const accelerator = accelOf(a)!;
  const lower = a.accName.toLowerCase();
  const base = { cloud, accelerator, region: a.region, zone: a.zone || undefined };
  if (lower.startsWith('tpu-')) {
    // TPU VMs: the accelerator row is the whole price; no separate host
    push({ ...base, instanceType: 'TPU-VM', vcpus: 0, memoryGiB: 0, price: a.price, spotPrice: a.spot });
    return;
  }
  const join = (h: Raw): Pick<Entry, 'price' | 'spotPrice'> => ({
    price: h.price !== undefined && a.price !== undefined ? round6(h.price + a.price) : undefined,
    spotPrice: h.spot !== undefined && a.spot !== undefined ? round6(h.spot + a.spot) : undefined,
  });
  const fixed = GCP_FIXED_HOSTS[lower];
  if (fixed) {
    for (const type of fixed[a.accCount!] ?? []) {
      const h = hosts.byZoneType.get(`${a.zone}|${type}`);
      if (h) push({ ...base, instanceType: type, vcpus: h.vcpus, memoryGiB: h.mem, ...join(h), hostPrice: h.price });
    }
    return;
  }
  const [maxCpus, maxMem] = GCP_N1_MAX[lower]?.[a.accCount!] ?? [Infinity, Infinity];
  const cpus = (GCP_HOST_DEFAULT_CPUS[lower] ?? GCP_HOST_DEFAULT_CPUS.default!)[a.accCount!];
  let cheapestDefault: Entry | undefined;
  for (const h of hosts.n1ByZone.get(a.zone) ?? []) {
    if (h.vcpus > maxCpus || h.mem > maxMem) continue;
    const e: Entry = {
      ...base,
      instanceType: h.type,
      vcpus: h.vcpus,
      memoryGiB: h.mem,
      ...join(h),
      flexibleHost: true,
      hostPrice: h.price,
    };
    const isDefaultSize = cpus !== undefined && h.vcpus >= cpus && h.mem >= cpus * GCP_HOST_MEMORY_PER_CPU;
    if (isDefaultSize && h.price !== undefined && (!cheapestDefault || h.price < cheapestDefault.hostPrice!))
      cheapestDefault = e;
    push(e);
  }
  if (cheapestDefault) cheapestDefault.defaultHost = true;
}
