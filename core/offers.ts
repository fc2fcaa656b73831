/** Offers (concrete candidates) and the failover blocklist with wildcard scopes. */
import type { BlockScope } from './errors';

export interface Offer {
  cloud: string;
  region: string;
  /** zones this attempt may use, in the order to try them; empty when the infra has none */
  zones: string[];
  instanceType: string;
  spot: boolean;
  /** price of one node per hour, USD */
  hourlyPrice: number;
  numNodes: number;
  vcpus: number;
  memoryGiB: number;
  accelerator?: { name: string; count: number };
  /** index of the task's resource candidate this offer satisfies */
  candidate: number;
}

/** A blocked scope: undefined fields match anything (SkyPilot's partial Resources). */
export interface Block {
  cloud?: string;
  region?: string;
  zone?: string;
  instanceType?: string;
}

/** Where and what an offer is: `sim/us-east-1/use1-az2` and `p4d.24xlarge spot`. */
export function offerWhere(o: Offer): { infra: string; instance: string } {
  return {
    infra: [o.cloud, o.region, o.zones.length === 1 ? o.zones[0] : undefined].filter(Boolean).join('/'),
    instance: `${o.instanceType}${o.spot ? ' spot' : ''}`,
  };
}

export function offerLabel(o: Offer): string {
  const w = offerWhere(o);
  return `${w.infra} ${w.instance}`;
}

/** The block a failure of `o` causes for a given scope. */
export function blockFor(o: Offer, scope: BlockScope, zone?: string): Block | undefined {
  switch (scope) {
    case 'none':
      return undefined;
    case 'zone':
      return zone || o.zones.length === 1
        ? { cloud: o.cloud, region: o.region, zone: zone ?? o.zones[0] }
        : { cloud: o.cloud, region: o.region };
    case 'region':
      return { cloud: o.cloud, region: o.region };
    case 'cloud':
      return { cloud: o.cloud };
    case 'all':
      return {};
  }
}

function matches(b: Block, o: Offer, zone?: string): boolean {
  if (b.cloud !== undefined && b.cloud !== o.cloud) return false;
  if (b.region !== undefined && b.region !== o.region) return false;
  if (b.instanceType !== undefined && b.instanceType !== o.instanceType) return false;
  if (b.zone !== undefined && b.zone !== zone) return false;
  return true;
}

/** The offer's zones that no block covers; undefined when the whole offer is blocked. */
export function unblocked(o: Offer, blocks: readonly Block[]): Offer | undefined {
  if (o.zones.length === 0) {
    return blocks.some((b) => b.zone === undefined && matches(b, o)) ? undefined : o;
  }
  const zones = o.zones.filter((z) => !blocks.some((b) => matches(b, o, z)));
  return zones.length ? { ...o, zones } : undefined;
}
