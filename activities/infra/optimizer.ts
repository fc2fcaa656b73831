/**
 * The optimizer: from a task's resource candidates to offers ranked by hourly cost, minus the
 * blocklist. Every enabled provider gives its own offers (catalog-priced ones through
 * activities/catalog); any_of: cheapest first across candidates; ordered: the user's order,
 * cheapest first within each candidate. Ties keep enumeration order (provider order, then the
 * provider's own order), as SkyPilot's strict `<` does. Runs as an activity (the workflow's
 * source of truth) and in the CLI for `optimize`, --dryrun and the table printed before a launch.
 */
import { CONTAINER_INFRA, dockerImage, imageFor, imagesOf, runsContainers } from '../../core/docker';
import { type Block, type Offer, unblocked } from '../../core/offers';
import { formatAccelerator, formatQuantity } from '../../core/resources';
import type { Resources } from '../../core/task';
import { createProviders } from './clouds';
import type { Provider } from './clouds/provider';

export interface OptimizeRequest {
  candidates: Resources[];
  ordered: boolean;
  numNodes: number;
  blocks?: Block[];
}

export interface OptimizeResult {
  offers: Offer[];
  /** enabled infra that was asked, for the message when nothing fits */
  enabled: string[];
  disabled: Array<{ infra: string; reason: string }>;
  /** when nothing fits a request with accelerators: the catalog's nearest offered names */
  nearestAccelerators?: string[];
  /** ...and the catalog clouds that do offer the requested accelerators (not enabled here) */
  offeredBy?: string[];
}

export function describeResources(r: Resources): string {
  const parts: string[] = [];
  const { cloud, region, zone } = r.infra;
  if (cloud || region || zone) parts.push(`infra=${[cloud ?? '*', region ?? '*', zone].filter(Boolean).join('/')}`);
  if (r.accelerator) parts.push(`${r.accelerator.name}:${r.accelerator.count}`);
  if (r.cpus) parts.push(`cpus=${formatQuantity(r.cpus)}`);
  if (r.memory) parts.push(`memory=${formatQuantity(r.memory)}`);
  if (r.instanceType) parts.push(r.instanceType);
  if (r.useSpot) parts.push('spot');
  return parts.length ? parts.join(', ') : 'any';
}

/**
 * Ranks offers given per candidate (index = candidate): drops blocked zones/offers, then sorts
 * by hourly price, stably. `ordered` keeps the candidates' order (cheapest first within each).
 */
export function rankOffers(perCandidate: readonly Offer[][], ordered: boolean, blocks: readonly Block[] = []): Offer[] {
  const byPrice = (a: Offer, b: Offer) => a.hourlyPrice - b.hourlyPrice;
  const lists = perCandidate.map((list) =>
    list
      .map((o) => unblocked(o, blocks))
      .filter((o): o is Offer => o !== undefined)
      .sort(byPrice),
  );
  return ordered ? lists.flat() : lists.flat().sort(byPrice);
}

/**
 * A docker image (`image_id: docker:...`) runs only where containers do: never on local or sim;
 * `volumes` (PersistentVolumeClaims) mount only on Kubernetes.
 */
function runsTask(r: Resources, o: Offer): boolean {
  if (r.kubernetes?.volumes && o.cloud !== 'kubernetes') return false;
  return runsContainers(o.cloud) || dockerImage(imageFor(r, o.region)) === undefined;
}

const usesDocker = (r: Resources) => imagesOf(r).some((i) => dockerImage(i) !== undefined);

export async function optimize(req: OptimizeRequest, opts: { providers?: Provider[] } = {}): Promise<OptimizeResult> {
  const enabled: string[] = [];
  const disabled: OptimizeResult['disabled'] = [];
  const perCandidate: Offer[][] = req.candidates.map(() => []);
  for (const p of opts.providers ?? createProviders().all()) {
    const check = await p.check();
    if (!check.enabled) {
      disabled.push({ infra: p.name, reason: check.reason ?? 'disabled' });
      continue;
    }
    enabled.push(p.name);
    for (let i = 0; i < req.candidates.length; i++) {
      const offers = await p.offers(req.candidates[i]!, req.numNodes, i);
      perCandidate[i]!.push(...offers.filter((o) => runsTask(req.candidates[i]!, o)));
    }
  }
  const offers = rankOffers(perCandidate, req.ordered, req.blocks ?? []);
  const result: OptimizeResult = { offers, enabled, disabled };
  if (!offers.length) {
    const names = [...new Set(req.candidates.flatMap((c) => (c.accelerator ? [c.accelerator.name] : [])))];
    if (names.length) {
      try {
        const { loadCatalog } = await import('./catalog');
        const catalog = await loadCatalog();
        const asked = new Set(names.map((n) => n.toLowerCase()));
        const near = new Set<string>();
        const offeredBy = new Set<string>();
        for (const c of req.candidates) {
          if (!c.accelerator) continue;
          for (const row of catalog.accelerators({ name: c.accelerator.name, count: c.accelerator.count }))
            offeredBy.add(row.cloud);
        }
        result.offeredBy = [...offeredBy].sort();
        if (!offeredBy.size) {
          for (const n of names)
            for (const x of catalog.nearestAccelerators(n)) if (!asked.has(x.toLowerCase())) near.add(x);
          result.nearestAccelerators = [...near];
        }
      } catch {
        // no catalog, no hint: the message still names the request
      }
    }
  }
  return result;
}

export function noOfferMessage(req: OptimizeRequest, res: OptimizeResult): string {
  const asked = req.candidates.map(describeResources).join(' | ');
  const lines = [
    `No enabled infra offers ${req.numNodes}x [${asked}].`,
    `Enabled infra: ${res.enabled.join(', ') || 'none'}.`,
  ];
  for (const d of res.disabled) lines.push(`Disabled: ${d.infra}: ${d.reason}`);
  const known = new Set([...res.enabled, ...res.disabled.map((d) => d.infra)]);
  const missing = [
    ...new Set(req.candidates.map((c) => c.infra.cloud).filter((c): c is string => !!c && !known.has(c))),
  ];
  if (missing.length) lines.push(`Not available in this SkyRun: ${missing.join(', ')} (no provider for it yet).`);
  if (res.offeredBy?.length) {
    lines.push(
      `The catalog offers it on ${res.offeredBy.join(', ')}, not enabled here; \`skyrun optimize --catalog\` shows what it would cost there.`,
    );
  }
  if (res.nearestAccelerators?.length) {
    lines.push(`Try one of these offered accelerators: ${res.nearestAccelerators.join(', ')}.`);
  }
  if (req.candidates.some(usesDocker) && !res.enabled.some(runsContainers)) {
    lines.push(
      `Hint: docker images (image_id: docker:...) need infra that runs containers (${CONTAINER_INFRA.join(', ')}); local and sim run tasks as processes of this machine.`,
    );
  }
  if (req.candidates.some((c) => c.kubernetes?.volumes) && !res.enabled.includes('kubernetes')) {
    lines.push(
      'Hint: volumes (PersistentVolumeClaims) mount on Kubernetes only, and Kubernetes is not enabled (`skyrun check`).',
    );
  }
  const accs = req.candidates.flatMap((c) => (c.accelerator ? [c.accelerator] : []));
  if (accs.length && res.enabled.every((e) => e === 'local')) {
    lines.push('Hint: local infra has no accelerators; drop `accelerators` or pick an infra that has them.');
  }
  if (accs.length) {
    // never the user's typo back: a name the catalog does not offer gives way to its nearest offered one
    const near = res.nearestAccelerators?.[0];
    const shown = near ? formatAccelerator({ ...accs[0]!, name: near }) : formatAccelerator(accs[0]!);
    const offered = !!res.offeredBy?.length || !res.nearestAccelerators; // (no catalog read: not known otherwise)
    const where = near || offered ? ` \`skyrun show-gpus ${shown}\` where and at what price` : '';
    lines.push(`Hint: \`skyrun show-gpus\` lists the accelerators the catalog offers${where ? `;${where}` : ''}.`);
  }
  return lines.join('\n');
}
