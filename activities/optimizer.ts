/**
 * The optimizer: from a task's resource candidates to offers ranked by hourly cost, minus the
 * blocklist. any_of: cheapest first across candidates; ordered: the user's order, cheapest
 * first within each candidate. Runs as an activity (the workflow's source of truth) and in the
 * CLI for --dryrun and the table printed before a launch.
 */
import { type Block, type Offer, unblocked } from '../core/offers';
import type { Resources } from '../core/task';
import { allProviders } from './clouds';

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
}

export function describeResources(r: Resources): string {
  const parts: string[] = [];
  const { cloud, region, zone } = r.infra;
  if (cloud || region || zone) parts.push(`infra=${[cloud ?? '*', region ?? '*', zone].filter(Boolean).join('/')}`);
  if (r.accelerator) parts.push(`${r.accelerator.name}:${r.accelerator.count}`);
  if (r.cpus) parts.push(`cpus=${r.cpus.value}${r.cpus.orMore ? '+' : ''}`);
  if (r.memory) parts.push(`memory=${r.memory.value}${r.memory.orMore ? '+' : ''}`);
  if (r.instanceType) parts.push(r.instanceType);
  if (r.useSpot) parts.push('spot');
  return parts.length ? parts.join(', ') : 'any';
}

export async function optimize(req: OptimizeRequest): Promise<OptimizeResult> {
  const enabled: string[] = [];
  const disabled: OptimizeResult['disabled'] = [];
  const perCandidate: Offer[][] = req.candidates.map(() => []);
  for (const p of allProviders()) {
    const check = await p.check();
    if (!check.enabled) {
      disabled.push({ infra: p.name, reason: check.reason ?? 'disabled' });
      continue;
    }
    enabled.push(p.name);
    for (let i = 0; i < req.candidates.length; i++) {
      for (const o of await p.offers(req.candidates[i]!, req.numNodes, i)) {
        const left = unblocked(o, req.blocks ?? []);
        if (left) perCandidate[i]!.push(left);
      }
    }
  }
  const byPrice = (a: Offer, b: Offer) => a.hourlyPrice - b.hourlyPrice;
  const offers = req.ordered
    ? perCandidate.flatMap((list) => [...list].sort(byPrice))
    : perCandidate.flat().sort(byPrice);
  return { offers, enabled, disabled };
}

export function noOfferMessage(req: OptimizeRequest, res: OptimizeResult): string {
  const asked = req.candidates.map(describeResources).join(' | ');
  const lines = [
    `No enabled infra offers ${req.numNodes}x [${asked}].`,
    `Enabled infra: ${res.enabled.join(', ') || 'none'}.`,
  ];
  for (const d of res.disabled) lines.push(`Disabled: ${d.infra}: ${d.reason}`);
  if (req.candidates.some((c) => c.accelerator) && res.enabled.every((e) => e === 'local')) {
    lines.push('Hint: local infra has no accelerators; drop `accelerators` or pick an infra that has them.');
  }
  return lines.join('\n');
}
