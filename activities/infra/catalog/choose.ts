/**
 * How one resources candidate becomes offers on one catalog cloud, by SkyPilot 0.14's rules:
 *
 * 1. one instance type per cloud: the pinned `instance_type`; else, for an accelerator, the
 *    type of the cheapest fitting row (spot price for a spot request; region and zone honoured),
 *    except GCP accelerators joined to a host VM, whose host type is the one with the cheapest
 *    on-demand host price anywhere; else (CPU only) the type of the cheapest on-demand row of the
 *    cloud's default families in the allowed region/zone, spot requests included;
 * 2. sizes: CPU-only requests without cpus and memory mean `cpus: 8+`, and without memory at
 *    least 4 GiB per vCPU; a GCP GPU on an n1 host without cpus and memory gets SkyPilot's
 *    default host size for it (GCP_HOST_DEFAULT_CPUS), without memory 4 GiB per requested vCPU;
 * 3. that type is offered in every region (of the allowed ones) that has it at the asked price:
 *    one offer per region, priced at its cheapest zone, its zones cheapest first (then by name),
 *    which is the order a launch tries them.
 */
import type { Offer } from '../../../core/offers';
import type { Quantity, Resources } from '../../../core/task';
import { type Entry, GCP_HOST_DEFAULT_CPUS, GCP_HOST_MEMORY_PER_CPU } from './entries';

/** The default size of a CPU-only request (SkyPilot's _DEFAULT_NUM_VCPUS and memory ratio). */
const DEFAULT_CPUS: Quantity = { value: 8, orMore: true };
const DEFAULT_MEMORY_PER_CPU = 4;

type Fit = (e: Entry) => boolean;

function fits(q: Quantity | undefined, have: number): boolean {
  if (!q) return true;
  return q.orMore ? have >= q.value : Math.abs(have - q.value) < 1e-9;
}

/** The size rule for a candidate's rows (see 2. above). */
function sizeRule(r: Resources, pinned: boolean): Fit {
  const { cpus, memory } = r;
  if (pinned) return (e) => fits(cpus, e.vcpus) && fits(memory, e.memoryGiB);
  if (r.accelerator) {
    return (e) => {
      if (e.flexibleHost && cpus === undefined && memory === undefined) {
        const table = GCP_HOST_DEFAULT_CPUS[e.accelerator!.name.toLowerCase()] ?? GCP_HOST_DEFAULT_CPUS.default!;
        const n = table[e.accelerator!.count];
        return n === undefined || (e.vcpus >= n && e.memoryGiB >= n * GCP_HOST_MEMORY_PER_CPU);
      }
      if (e.flexibleHost && memory === undefined && cpus)
        return fits(cpus, e.vcpus) && e.memoryGiB >= cpus.value * GCP_HOST_MEMORY_PER_CPU;
      return fits(cpus, e.vcpus) && fits(memory, e.memoryGiB);
    };
  }
  const wantCpus = cpus ?? (memory === undefined ? DEFAULT_CPUS : undefined);
  return (e) =>
    fits(wantCpus, e.vcpus) &&
    (memory ? fits(memory, e.memoryGiB) : e.memoryGiB >= e.vcpus * DEFAULT_MEMORY_PER_CPU - 1e-9);
}

/** SkyPilot's one instance type for the candidate on this cloud, or undefined when none fits. */
function chooseType(pool: readonly Entry[], r: Resources, matches: Fit, inPlace: Fit): string | undefined {
  if (r.instanceType) return r.instanceType;
  const size = sizeRule(r, false);
  let best: { type: string; price: number } | undefined;
  for (const e of pool) {
    if (!matches(e) || !size(e)) continue;
    const joined = e.hostPrice !== undefined || e.flexibleHost;
    if (!joined && !inPlace(e)) continue;
    const price = joined ? e.hostPrice : r.accelerator && r.useSpot ? e.spotPrice : e.price;
    if (price === undefined) continue;
    if (!best || price < best.price) best = { type: e.instanceType, price };
  }
  return best?.type;
}

/** Offers of `pool` (a cloud's rows for the candidate) by the rules above. */
export function chooseOffers(
  cloud: string,
  pool: readonly Entry[],
  r: Resources,
  numNodes: number,
  candidate: number,
): Offer[] {
  const acc = r.accelerator;
  const accLower = acc?.name.toLowerCase();
  const { region, zone } = r.infra;
  const inPlace: Fit = (e) => (region === undefined || e.region === region) && (zone === undefined || e.zone === zone);
  const matches: Fit = acc
    ? (e) => !!e.accelerator && e.accelerator.name.toLowerCase() === accLower && e.accelerator.count === acc.count
    : (e) => !e.flexibleHost; // a pinned n1 type without accelerators is the plain VM row
  const type = chooseType(pool, r, matches, inPlace);
  if (type === undefined) return [];
  const size = sizeRule(r, !!r.instanceType);
  const priceOf = (e: Entry) => (r.useSpot ? e.spotPrice : e.price);

  const groups = new Map<string, { e: Entry; zones: Map<string, number>; price: number }>();
  for (const e of pool) {
    if (e.instanceType !== type || !matches(e) || !inPlace(e)) continue;
    if (r.instanceType && !size(e)) continue;
    const price = priceOf(e);
    if (price === undefined) continue;
    const g = groups.get(e.region);
    if (!g) groups.set(e.region, { e, zones: new Map(e.zone ? [[e.zone, price]] : []), price });
    else {
      if (e.zone && !(g.zones.get(e.zone)! <= price)) g.zones.set(e.zone, price);
      if (price < g.price) g.price = price;
    }
  }
  const out: Offer[] = [];
  for (const { e, zones, price } of groups.values()) {
    if (r.maxHourlyCost !== undefined && price * numNodes > r.maxHourlyCost) continue;
    out.push({
      cloud,
      region: e.region,
      zones: [...zones].sort(([za, pa], [zb, pb]) => pa - pb || (za < zb ? -1 : za > zb ? 1 : 0)).map(([z]) => z),
      instanceType: e.instanceType,
      spot: r.useSpot,
      hourlyPrice: price,
      numNodes,
      vcpus: e.vcpus,
      memoryGiB: e.memoryGiB,
      ...(e.accelerator ? { accelerator: { name: e.accelerator.name, count: e.accelerator.count } } : {}),
      candidate,
    });
  }
  return out.sort((a, b) => a.hourlyPrice - b.hourlyPrice);
}
