/** Turning provider errors into ApplicationFailures whose type is the taxonomy class. */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ProviderError } from '../core/errors';

export function asFailure(e: unknown): Error {
  if (e instanceof ApplicationFailure || e instanceof CancelledFailure) return e;
  if (e instanceof ProviderError) {
    return e.errorClass === 'transient'
      ? ApplicationFailure.retryable(e.message, 'transient')
      : ApplicationFailure.nonRetryable(e.message, e.errorClass);
  }
  // anything unrecognised blocks the zone (the safe default) and says so
  const msg = e instanceof Error ? e.message : String(e);
  return ApplicationFailure.nonRetryable(`unrecognised error: ${msg}`, 'unknown');
}

export async function mapped<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw asFailure(e);
  }
}
