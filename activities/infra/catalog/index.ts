/**
 * The instance catalog: SkyPilot-schema `vms.csv` files (columns found by header name, since
 * their order differs per cloud), indexed once by cloud, instance type, accelerator and region
 * so one request never scans every row.
 *
 * Sources, per cloud, first found wins:
 *   1. SKYRUN_CATALOG_DIR: `<cloud>/vms.csv`, else `<cloud>/vms.subset.csv`, else `<cloud>_vms.csv`;
 *   2. the cache SKYRUN_HOME/catalogs/<cloud>/vms.csv that `skyrun catalog update` fills;
 *   3. the small catalog SkyRun ships (./builtin.ts).
 *
 * Quirks handled (see the catalog README): GCP accelerator rows have no InstanceType and are
 * priced on top of a host VM (joined per zone: an offer exists only where both rows exist);
 * the a2/a3/a4/g2 host rows carry no AcceleratorName, so they are only offered together with
 * their accelerator; empty or zero Price = no on-demand, empty or zero SpotPrice = no spot;
 * exact duplicate rows are dropped; AWS zones stay AZ IDs (use1-az2); GpuInfo is a Python repr,
 * read with a regex.
 */
import { existsSync, promises as fsp, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Offer } from '../../../core/offers';
import { editDistance } from '../../../core/suggest';
import type { Resources } from '../../../core/task';
import type { Provider } from '../clouds/provider';
import { homePath } from '../home';
import { builtinCsv } from './builtin';
import { chooseOffers } from './choose';
import { type CatalogEntry, type Entry, entriesFromCsv } from './entries';

export type { CatalogEntry } from './entries';

export interface AcceleratorOffering {
  name: string;
  count: number;
  cloud: string;
  instanceType: string;
  vcpus: number;
  memoryGiB: number;
  /** memory of one accelerator, GiB, when the catalog says */
  deviceMemoryGiB?: number;
  price?: number;
  spotPrice?: number;
  /** region of the cheapest on-demand price (of the cheapest spot price when there is none) */
  region: string;
}

/** Clouds SkyRun has catalogs for. */
export const CATALOG_CLOUDS = ['aws', 'gcp'] as const;
export const DEFAULT_CATALOG_URL = 'https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs/v8';

/**
 * With neither accelerator nor instance type, these families are considered: SkyPilot 0.14's
 * default CPU families (_DEFAULT_INSTANCE_FAMILY in its aws and gcp catalogs). A catalog that
 * holds none of them for a cloud (a partial one, such as the test fixtures) falls back to every
 * CPU-only x86 type of that cloud, where SkyPilot would offer nothing there.
 */
const DEFAULT_FAMILIES: Record<string, RegExp> = {
  aws: /^(m6i|m6id|m7i|r6i|r6id|r7i|c6i|c6id|c7i)\./,
  gcp: /^(n2|n4)-(standard|highmem|highcpu)-/,
};
interface CloudIndex {
  entries: Entry[];
  byType: Map<string, Entry[]>;
  /** by lowercased accelerator name */
  byAccel: Map<string, Entry[]>;
  defaultCpu: Entry[];
  /** region -> its zones */
  regions: Map<string, Set<string>>;
  /** accelerator names as the catalog spells them */
  accelNames: string[];
  stats: { rows: number; duplicates: number };
}

function indexCloud(cloud: string, entries: Entry[], stats: CloudIndex['stats']): CloudIndex {
  const idx: CloudIndex = {
    entries,
    byType: new Map(),
    byAccel: new Map(),
    defaultCpu: [],
    regions: new Map(),
    accelNames: [],
    stats,
  };
  const add = <K>(m: Map<K, Entry[]>, k: K, e: Entry) => {
    const l = m.get(k);
    if (l) l.push(e);
    else m.set(k, [e]);
  };
  const family = DEFAULT_FAMILIES[cloud];
  const names = new Map<string, string>();
  const fallbackCpu: Entry[] = [];
  for (const e of entries) {
    add(idx.byType, e.instanceType, e);
    if (e.accelerator) {
      const lower = e.accelerator.name.toLowerCase();
      add(idx.byAccel, lower, e);
      if (!names.has(lower)) names.set(lower, e.accelerator.name);
    } else if (!family || family.test(e.instanceType)) {
      idx.defaultCpu.push(e);
    } else if (!e.arch || e.arch === 'x86_64') {
      fallbackCpu.push(e);
    }
    let zones = idx.regions.get(e.region);
    if (!zones) idx.regions.set(e.region, (zones = new Set()));
    if (e.zone) zones.add(e.zone);
  }
  idx.accelNames = [...names.values()];
  if (!idx.defaultCpu.length) idx.defaultCpu = fallbackCpu;
  return idx;
}

export class Catalog {
  private readonly index = new Map<string, CloudIndex>();

  constructor(
    readonly source: string,
    perCloud: Array<{ cloud: string; entries: Entry[]; rows: number; duplicates: number }>,
  ) {
    for (const c of perCloud)
      this.index.set(c.cloud, indexCloud(c.cloud, c.entries, { rows: c.rows, duplicates: c.duplicates }));
  }

  clouds(): string[] {
    return [...this.index.keys()];
  }

  regions(cloud: string): string[] {
    return [...(this.index.get(cloud)?.regions.keys() ?? [])].sort();
  }

  zones(cloud: string, region: string): string[] {
    return [...(this.index.get(cloud)?.regions.get(region) ?? [])].sort();
  }

  /** Rows read (after dedupe), duplicates dropped and entries indexed for one cloud. */
  stats(cloud: string): { rows: number; duplicates: number; entries: number } | undefined {
    const idx = this.index.get(cloud);
    return idx && { ...idx.stats, entries: idx.entries.length };
  }

  /** Every indexed entry of a cloud (GCP accelerators joined with their hosts). */
  entries(cloud: string): readonly CatalogEntry[] {
    return this.index.get(cloud)?.entries ?? [];
  }

  /**
   * Offers for one resources candidate on one catalog cloud, by SkyPilot's rules (./choose.ts):
   * one instance type, offered per region with its zones cheapest first; cheapest first, ties in
   * catalog order. `asCloud` relabels the offers' cloud. The cloud part of r.infra is the
   * caller's business; region and zone are honoured here.
   */
  offers(cloud: string, r: Resources, numNodes: number, candidate: number, opts: { asCloud?: string } = {}): Offer[] {
    const idx = this.index.get(cloud);
    if (!idx) return [];
    let pool: Entry[];
    if (r.instanceType) pool = idx.byType.get(r.instanceType) ?? [];
    else if (r.accelerator) pool = idx.byAccel.get(r.accelerator.name.toLowerCase()) ?? [];
    else pool = idx.defaultCpu;
    return chooseOffers(opts.asCloud ?? cloud, pool, r, numNodes, candidate);
  }

  /** For show-gpus: per (cloud, accelerator, count, instance type), its cheapest region and prices. */
  accelerators(
    filter: { name?: string; count?: number; cloud?: string; region?: string; zone?: string } = {},
  ): AcceleratorOffering[] {
    const want = filter.name?.toLowerCase();
    const groups = new Map<string, AcceleratorOffering & { score: number }>();
    for (const [cloud, idx] of this.index) {
      if (filter.cloud !== undefined && filter.cloud !== cloud) continue;
      const lists = want !== undefined ? [idx.byAccel.get(want) ?? []] : idx.byAccel.values();
      for (const list of lists) {
        for (const e of list) {
          const a = e.accelerator!;
          if (filter.count !== undefined && a.count !== filter.count) continue;
          if (filter.region !== undefined && e.region !== filter.region) continue;
          if (filter.zone !== undefined && e.zone && e.zone !== filter.zone) continue;
          if (e.flexibleHost && !e.defaultHost) continue;
          const key = `${cloud}|${a.name}|${a.count}|${e.instanceType}`;
          // the region shown: cheapest on-demand; spot-only rows rank after any on-demand one
          const score = e.price !== undefined ? e.price : 1e9 + e.spotPrice!;
          const g = groups.get(key);
          if (!g) {
            groups.set(key, {
              name: a.name,
              count: a.count,
              cloud,
              instanceType: e.instanceType,
              vcpus: e.vcpus,
              memoryGiB: e.memoryGiB,
              ...(a.memoryGiB ? { deviceMemoryGiB: a.memoryGiB } : {}),
              price: e.price,
              spotPrice: e.spotPrice,
              region: e.region,
              score,
            });
            continue;
          }
          if (e.price !== undefined && (g.price === undefined || e.price < g.price)) g.price = e.price;
          if (e.spotPrice !== undefined && (g.spotPrice === undefined || e.spotPrice < g.spotPrice))
            g.spotPrice = e.spotPrice;
          if (score < g.score) {
            g.region = e.region;
            g.score = score;
          }
        }
      }
    }
    return [...groups.values()]
      .map(({ score: _, ...o }) => o)
      .sort(
        (x, y) =>
          x.name.localeCompare(y.name) ||
          x.count - y.count ||
          x.cloud.localeCompare(y.cloud) ||
          (x.price ?? x.spotPrice ?? Infinity) - (y.price ?? y.spotPrice ?? Infinity),
      );
  }

  /** Every accelerator name the catalog offers (as spelled there), per cloud or across all. */
  acceleratorNames(cloud?: string): string[] {
    const names = new Map<string, string>();
    for (const [c, idx] of this.index) {
      if (cloud !== undefined && c !== cloud) continue;
      for (const n of idx.accelNames) if (!names.has(n.toLowerCase())) names.set(n.toLowerCase(), n);
    }
    return [...names.values()].sort();
  }

  /**
   * Offered accelerator names nearest to `name`: names that contain it or that it contains,
   * then names within a few edits (core/suggest's distance), closest first.
   */
  nearestAccelerators(name: string, max = 5): string[] {
    const needle = name.toLowerCase();
    const scored: Array<{ n: string; d: number }> = [];
    for (const n of this.acceleratorNames()) {
      const lower = n.toLowerCase();
      const d = editDistance(needle, lower);
      const limit = Math.max(1, Math.floor(Math.max(needle.length, lower.length) / 3));
      if (needle.length >= 2 && (lower.includes(needle) || needle.includes(lower)))
        scored.push({ n, d: Math.min(d, 0.5 + d / 100) });
      else if (d <= limit) scored.push({ n, d });
    }
    return scored
      .sort((a, b) => a.d - b.d || a.n.localeCompare(b.n))
      .slice(0, max)
      .map((s) => s.n);
  }
}

// ---------------------------------------------------------------------------
// Loading

/** Files that may hold a cloud's catalog, in lookup order, with the label of their source. */
function catalogFiles(cloud: string): string[] {
  const out: string[] = [];
  const dir = process.env.SKYRUN_CATALOG_DIR;
  if (dir) {
    out.push(
      path.join(dir, cloud, 'vms.csv'),
      path.join(dir, cloud, 'vms.subset.csv'),
      path.join(dir, `${cloud}_vms.csv`),
    );
  }
  out.push(cachePath(cloud));
  return out;
}

export function cachePath(cloud: string): string {
  return homePath('catalogs', cloud, 'vms.csv');
}

/** Loads every cloud's catalog from its first source, without the memo (benchmarks, tests). */
export async function loadCatalogUncached(): Promise<Catalog> {
  const dir = process.env.SKYRUN_CATALOG_DIR;
  if (dir && !(existsSync(dir) && statSync(dir).isDirectory())) {
    throw new Error(`SKYRUN_CATALOG_DIR=${dir}: no such folder`);
  }
  const perCloud = await Promise.all(
    CATALOG_CLOUDS.map(async (cloud) => {
      for (const file of catalogFiles(cloud)) {
        let text: string;
        try {
          text = await fsp.readFile(file, 'utf8');
        } catch {
          continue;
        }
        return { cloud, where: file, ...entriesFromCsv(cloud, text, file) };
      }
      const text = builtinCsv(cloud)!;
      return { cloud, where: 'built-in', ...entriesFromCsv(cloud, text, `built-in ${cloud} catalog`) };
    }),
  );
  return new Catalog(perCloud.map((c) => `${c.cloud}: ${c.where}`).join('; '), perCloud);
}

let memo: { key: string; catalog: Promise<Catalog> } | undefined;

/** The catalog, loaded once per process (again when SKYRUN_CATALOG_DIR or SKYRUN_HOME changes). */
export function loadCatalog(): Promise<Catalog> {
  const key = `${process.env.SKYRUN_CATALOG_DIR ?? ''}|${homePath()}`;
  if (!memo || memo.key !== key) {
    const catalog = loadCatalogUncached();
    memo = { key, catalog };
    catalog.catch(() => {
      if (memo?.catalog === catalog) memo = undefined;
    });
  }
  return memo.catalog;
}

/**
 * Offers of a catalog-priced cloud for one candidate, honouring the cloud part of its infra:
 * what a provider's `offers()` returns (`asCloud` for the `sim` infra, which reuses aws).
 */
export async function catalogOffers(
  cloud: string,
  r: Resources,
  numNodes: number,
  candidate: number,
  opts: { asCloud?: string } = {},
): Promise<Offer[]> {
  const name = opts.asCloud ?? cloud;
  if (r.infra.cloud !== undefined && r.infra.cloud !== name) return [];
  return (await loadCatalog()).offers(cloud, r, numNodes, candidate, opts);
}

/**
 * A provider with catalog offers and nothing else (provisioning throws): for the optimizer's
 * tests and benchmark, and for planning (`skyrun optimize`) on clouds without an adapter yet.
 */
export function catalogOnlyProvider(cloud: string, opts: { asCloud?: string } = {}): Provider {
  const name = opts.asCloud ?? cloud;
  const no = async (): Promise<never> => {
    throw new Error(`${name}: offers only (catalog); provisioning is not available`);
  };
  return {
    name,
    check: async () => ({ enabled: true }),
    offers: (r, numNodes, candidate) => catalogOffers(cloud, r, numNodes, candidate, opts),
    provision: no,
    query: no,
    terminate: no,
  };
}

// ---------------------------------------------------------------------------
// skyrun catalog update

function reason(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return 'timed out';
  const code = err?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve host (${code})`;
  if (code) return `${err.cause?.message ?? code}`;
  if (err?.cause?.message) return err.cause.message;
  return err?.message ?? String(e);
}

/**
 * Downloads `<base>/<cloud>/vms.csv` for each cloud into the cache, atomically (a temporary file
 * renamed into place), after checking it is a SkyPilot catalog. A failure keeps the old copy and
 * is reported in one line per cloud (the error's message); the clouds that succeeded are written
 * anyway. Returns the paths written.
 */
export async function updateCatalog(opts: {
  url?: string;
  clouds?: string[];
  timeoutMs?: number;
  log?: (m: string) => void;
}): Promise<string[]> {
  const base = (opts.url ?? process.env.SKYRUN_CATALOG_URL ?? DEFAULT_CATALOG_URL).replace(/\/+$/, '');
  const clouds = opts.clouds ?? [...CATALOG_CLOUDS];
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const written: string[] = [];
  const failures: string[] = [];
  for (const cloud of clouds) {
    const url = `${base}/${cloud}/vms.csv`;
    const dest = cachePath(cloud);
    const kept = existsSync(dest)
      ? `kept the old copy (${dest})`
      : 'nothing cached yet; the built-in catalog stays in use';
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
      const text = await res.text();
      const { entries } = entriesFromCsv(cloud, text, url);
      if (!entries.length) throw new Error('the file has no priced rows');
      await fsp.mkdir(path.dirname(dest), { recursive: true });
      const tmp = `${dest}.tmp-${process.pid}`;
      await fsp.writeFile(tmp, text);
      await fsp.rename(tmp, dest);
      written.push(dest);
      opts.log?.(`${cloud}: ${entries.length} offers from ${url} -> ${dest}`);
    } catch (e) {
      failures.push(`${cloud}: could not download ${url}: ${reason(e)} (offline?); ${kept}.`);
    }
  }
  memo = undefined;
  if (failures.length) {
    const err = new Error(failures.join('\n')) as Error & { written?: string[] };
    err.written = written;
    throw err;
  }
  return written;
}
