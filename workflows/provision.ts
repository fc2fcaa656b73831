/**
 * Provisioning with failover: the routine the cluster and managed-job workflows share.
 * For each ranked offer: register its teardown first, then provision; on failure classify,
 * run that offer's teardown, block the scope and go on. Cleanup runs non-cancellable.
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
import { provisionActs, teardownActs } from './proxies';
import type { ClusterHandle, ProvisionAttempt } from '../core/cluster';
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

/** Run every pending compensation; keep retrying, and say CleanupBlocked while it fails. */
export async function runCompensations(comps: Compensation[]): Promise<void> {
  await CancellationScope.nonCancellable(async () => {
    while (comps.length) {
      const c = comps[comps.length - 1]!;
      for (let round = 0; ; round++) {
        try {
          await teardownActs.teardown.executeWithOptions({ summary: `teardown ${c.label}` }, [
            { cloud: c.cloud, clusterName: c.clusterName },
          ]);
          break;
        } catch (e) {
          if (round === 0) upsertSearchAttributes([{ key: SA.Phase, value: 'CleanupBlocked' }]);
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
}

/** The task's image for a region: one id, or a map region -> id. */
function imageFor(r: Resources | undefined, region: string): string | undefined {
  if (!r?.imageId) return undefined;
  return typeof r.imageId === 'string' ? r.imageId : r.imageId[region];
}

/** The failure class an activity failure carries (its ApplicationFailure type). */
function failureClass(e: unknown): { cls: ErrorClass; message: string } {
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
        await runCompensations([comp]);
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

function exhausted(cluster: string, attempts: ProvisionAttempt[], type: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `Failed to provision '${cluster}' on every candidate:\n${attemptsText(attempts)}`,
    type,
  );
}
