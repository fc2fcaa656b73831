/**
 * Provisioning with failover: the routines the cluster and managed-job workflows share.
 * `searchAndProvision` optimizes, fails over through the offers and, when nothing had capacity,
 * waits (backing off) and searches again. `provisionWithFailover` is one round: for each ranked
 * offer register its teardown first, then provision; on failure classify, run that offer's
 * teardown, block the scope and go on. Cleanup runs non-cancellable.
 */
import {
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  setCurrentDetails,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { acts, provisionActs, teardownActs } from './proxies';
import type { ClusterHandle, ProvisionAttempt } from '../core/cluster';
import { imageFor } from '../core/docker';
import { type ErrorClass, FailureTypes, isErrorClass, scopeOf } from '../core/errors';
import { type Block, blockFor, type Offer, offerLabel, offerWhere, unblocked } from '../core/offers';
import { SA } from './contract';
import type { Resources } from '../core/task';
import { table } from '../core/table';

export interface Compensation {
  label: string;
  cloud: string;
  clusterName: string;
}

/**
 * Where a blocked cleanup is reported: called with the teardown's last error (`label: class:
 * message`) each time it fails, and with undefined once it succeeds after failing.
 */
export type CleanupReport = (reason: string | undefined) => void;

/**
 * Run every pending compensation; keep retrying (a resource may be left behind otherwise), say
 * CleanupBlocked while it fails and report each failure's reason, so nobody waits on it silently.
 */
export async function runCompensations(comps: Compensation[], report?: CleanupReport): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    while (comps.length) {
      const c = comps[comps.length - 1]!;
      for (let round = 0; ; round++) {
        try {
          await teardownActs.teardown.executeWithOptions({ summary: `teardown ${c.label}` }, [
            { cloud: c.cloud, clusterName: c.clusterName },
          ]);
          if (round > 0) report?.(undefined);
          break;
        } catch (e) {
          if (round === 0) upsertSearchAttributes([{ key: SA.Phase, value: 'CleanupBlocked' }]);
          const { cls, message } = failureClass(e);
          report?.(`teardown of ${c.label} failed (${cls}): ${message}`);
          await sleep(Math.min(60_000 * 2 ** round, 15 * 60_000));
        }
      }
      comps.pop();
    }
  });
}

function attemptsTable(attempts: ProvisionAttempt[]): string {
  const rows = attempts.map(
    (a, i) =>
      `| ${i + 1} | ${a.offer} | ${a.outcome} | ${a.errorClass ?? ''} | ${(a.reason ?? '').replace(/\|/g, '/')} |`,
  );
  return ['| # | offer | outcome | class | reason |', '|---|---|---|---|---|', ...rows].join('\n');
}

export function attemptsText(attempts: ProvisionAttempt[]): string {
  return table(
    ['INFRA', 'INSTANCE', 'REASON'],
    attempts.map((a) => [a.infra, a.instance, a.outcome === 'ok' ? 'ok' : `${a.errorClass}: ${a.reason ?? ''}`]),
  );
}

export interface FailoverOptions {
  clusterName: string;
  offers: Offer[];
  attempts: ProvisionAttempt[];
  compensations: Compensation[];
  labels?: Record<string, string>;
  /** scopes blocked before this round (managed-job recovery blocks the region that preempted) */
  blocks?: Block[];
  /** the task's resource candidates: an offer's ports, image and labels come from its own */
  candidates?: Resources[];
  /** where a failed attempt's blocked teardown is reported */
  onCleanup?: CleanupReport;
}

/** The failure class an activity failure carries (its ApplicationFailure type). */
export function failureClass(e: unknown): { cls: ErrorClass; message: string } {
  const cause = e instanceof Error && 'cause' in e ? (e.cause as Error | undefined) : undefined;
  const type = cause instanceof ApplicationFailure ? cause.type : undefined;
  return { cls: isErrorClass(type) ? type : 'unknown', message: cause?.message ?? String(e) };
}

/**
 * Try the offers in rank order, zone by zone: a capacity error blocks its zone, a quota error
 * its region, auth/config the cloud; an invalid request stops at once. Every attempt registers
 * its teardown before the create and runs it (non-cancellable) when the attempt fails.
 */
export async function provisionWithFailover(opts: FailoverOptions): Promise<ClusterHandle> {
  const blocks: Block[] = [...(opts.blocks ?? [])];
  const { offers, attempts } = opts;
  for (let i = 0; i < offers.length; i++) {
    const zones: Array<string | undefined> = offers[i]!.zones.length ? offers[i]!.zones : [undefined];
    for (const zone of zones) {
      const offer = unblocked(zone ? { ...offers[i]!, zones: [zone] } : offers[i]!, blocks);
      if (!offer) continue;
      const label = offerLabel(offer);
      const comp: Compensation = { label, cloud: offer.cloud, clusterName: opts.clusterName };
      opts.compensations.push(comp); // registered before the create
      upsertSearchAttributes([
        { key: SA.Cloud, value: offer.cloud },
        { key: SA.Region, value: offer.region },
        { key: SA.Spot, value: offer.spot },
        { key: SA.HourlyPrice, value: offer.hourlyPrice * offer.numNodes },
      ]);
      try {
        const handle = await provisionActs.provision.executeWithOptions(
          { summary: `provision ${label} (offer ${i + 1} of ${offers.length})` },
          [
            {
              clusterName: opts.clusterName,
              offer,
              offerKey: `${workflowInfo().workflowId}#${i}${zone ? `/${zone}` : ''}`,
              labels: { ...(opts.candidates?.[offer.candidate]?.labels ?? {}), ...(opts.labels ?? {}) },
              ports: opts.candidates?.[offer.candidate]?.ports,
              imageId: imageFor(opts.candidates?.[offer.candidate], offer.region),
              ...diskOf(opts.candidates?.[offer.candidate]),
              ...(offer.cloud === 'kubernetes' && opts.candidates?.[offer.candidate]?.kubernetes
                ? { kubernetes: opts.candidates[offer.candidate]!.kubernetes }
                : {}),
            },
          ],
        );
        attempts.push({ offer: label, ...offerWhere(offer), outcome: 'ok' });
        setCurrentDetails(attemptsTable(attempts));
        return handle;
      } catch (e) {
        if (isCancellation(e)) throw e;
        const { cls, message } = failureClass(e);
        attempts.push({ offer: label, ...offerWhere(offer), outcome: 'failed', errorClass: cls, reason: message });
        setCurrentDetails(attemptsTable(attempts));
        await runCompensations([comp], opts.onCleanup);
        opts.compensations.splice(opts.compensations.indexOf(comp), 1);
        if (cls === 'invalid') throw exhausted(opts.clusterName, attempts, FailureTypes.InvalidRequest);
        // transient errors were retried in place; still failing, they block the zone like unknown ones
        const b = blockFor(offer, cls === 'transient' ? 'zone' : scopeOf(cls));
        if (b) blocks.push(b);
      }
    }
  }
  throw exhausted(opts.clusterName, attempts, FailureTypes.ResourcesUnavailable);
}

/** The candidate's disk_size and disk_tier, only when the task sets them. */
function diskOf(r: Resources | undefined): { diskSizeGb?: number; diskTier?: Resources['diskTier'] } {
  return {
    ...(r?.diskSizeGb !== undefined ? { diskSizeGb: r.diskSizeGb } : {}),
    ...(r?.diskTier !== undefined ? { diskTier: r.diskTier } : {}),
  };
}

function exhausted(cluster: string, attempts: ProvisionAttempt[], type: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `Failed to provision '${cluster}' on every candidate:\n${attemptsText(attempts)}`,
    type,
  );
}

/** Attempts kept in state across rounds (the oldest go first). */
const KEPT_ATTEMPTS = 50;
/** The longest wait between two searches. */
export const MAX_SEARCH_GAP_MS = 10 * 60_000;

/** The wait after `gapMs` when a round found no capacity: x1.6, at most 10 minutes (like SkyPilot). */
export function nextSearchGap(gapMs: number): number {
  return Math.min(Math.round(gapMs * 1.6), MAX_SEARCH_GAP_MS);
}

export interface SearchOptions {
  clusterName: string;
  candidates: Resources[];
  ordered: boolean;
  numNodes: number;
  attempts: ProvisionAttempt[];
  compensations: Compensation[];
  /**
   * Scopes the optimizer leaves out at first (managed-job recovery blocks the region that
   * preempted). The caller's array: emptied in place when it leaves no offer at all, and
   * after a round that found no capacity (every search after the first starts unblocked).
   */
  blocks?: Block[];
  /** offers in this region go first (FAILOVER recovery: the same region before the others) */
  preferRegion?: string;
  /** when no enabled infra has an offer: what the request is called and the failure type thrown */
  noOffers: { what: string; type: string };
  /** when a round ends ResourcesUnavailable: wait gapMs (backing off) and search again; absent: fail */
  retry?: { gapMs: number };
  /** activity and timer summaries of round `round` (1-based) */
  summaries: { optimize(round: number): string; wait(round: number, gapMs: number): string };
  onPhase?(phase: 'Optimizing' | 'Provisioning'): void;
  /** where a failed attempt's blocked teardown is reported */
  onCleanup?: CleanupReport;
}

function preferred(offers: Offer[], region: string | undefined): Offer[] {
  if (!region) return offers;
  return [...offers.filter((o) => o.region === region), ...offers.filter((o) => o.region !== region)];
}

/** Optimize and fail over until a cluster is up; with `retry`, no capacity waits and searches again. */
export async function searchAndProvision(opts: SearchOptions): Promise<ClusterHandle> {
  const { attempts } = opts;
  const blocks = opts.blocks ?? [];
  let gap = opts.retry?.gapMs ?? 0;
  for (let round = 1; ; round++) {
    opts.onPhase?.('Optimizing');
    const res = await acts.optimizeOffers.executeWithOptions({ summary: opts.summaries.optimize(round) }, [
      { candidates: opts.candidates, ordered: opts.ordered, numNodes: opts.numNodes, blocks: opts.blocks },
    ]);
    if (!res.offers.length && blocks.length) {
      blocks.splice(0); // the blocked scope was the only place: try it again after all
      continue;
    }
    try {
      if (!res.offers.length) {
        throw ApplicationFailure.nonRetryable(
          `No enabled infra can run this ${opts.noOffers.what} (enabled: ${res.enabled.join(', ') || 'none'}).`,
          opts.noOffers.type,
        );
      }
      opts.onPhase?.('Provisioning');
      return await provisionWithFailover({
        clusterName: opts.clusterName,
        offers: preferred(res.offers, opts.preferRegion),
        attempts,
        compensations: opts.compensations,
        candidates: opts.candidates,
        onCleanup: opts.onCleanup,
      });
    } catch (e) {
      const retry = opts.retry && e instanceof ApplicationFailure && e.type === FailureTypes.ResourcesUnavailable;
      if (!retry) throw e;
      if (attempts.length > KEPT_ATTEMPTS) attempts.splice(0, attempts.length - KEPT_ATTEMPTS);
      // like SkyPilot: wait with backoff, then search again with an empty blocklist
      blocks.splice(0);
      await sleep(gap, { summary: opts.summaries.wait(round, gap) });
      gap = nextSearchGap(gap);
    }
  }
}
