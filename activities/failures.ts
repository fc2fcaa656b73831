/**
 * Turning errors into ApplicationFailures whose type is the taxonomy class, with no secret value
 * in them: a failure's message travels to the server (history, the pending activity's last
 * failure) and into the worker's log, so it is scrubbed before it leaves the activity.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ProviderError } from '../core/errors';

/**
 * Node's errors for requests no retry can fix, by code, and what they say instead of Node's
 * own text (which quotes the offending value: a secret, a whole env).
 */
const PERMANENT_CODES: Record<string, string> = {
  E2BIG: "the job's environment (envs and secrets) is larger than the OS allows a process (spawn E2BIG)",
  ERR_INVALID_ARG_VALUE: 'an env or secret value, or the script, contains a NUL byte (which no process can receive)',
  ENAMETOOLONG: 'a path or name is longer than the filesystem allows (ENAMETOOLONG)',
};

/** A known permanent Node error as a ProviderError('invalid') without its values; else undefined. */
export function permanentError(e: unknown): ProviderError | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const text = code ? PERMANENT_CODES[code] : undefined;
  return text ? new ProviderError('invalid', text, code) : undefined;
}

/** The forms a value takes in error text: as is, JSON-escaped, and as util.inspect quotes it. */
function forms(value: string): string[] {
  const json = JSON.stringify(value).slice(1, -1);
  const inspected = value.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return [...new Set([value, json, inspected])].filter((v) => v.length > 0);
}

/** `text` with every secret value (in any of its quoted forms) replaced by <redacted>. */
export function scrub(text: string, secrets: readonly string[]): string {
  const all = secrets.flatMap(forms).sort((a, b) => b.length - a.length);
  let out = text;
  for (const v of all) out = out.split(v).join('<redacted>');
  return out;
}

/**
 * As a failure: ProviderErrors by class (transient ones retry), known permanent Node errors as
 * `invalid`. Anything else blocks the zone as `unknown` by default; `unknownRetries` keeps it
 * retryable instead (job activities, where an unrecognised error is usually a node hiccup).
 * Messages are scrubbed of `secrets`.
 */
export function asFailure(e: unknown, opts: { secrets?: readonly string[]; unknownRetries?: boolean } = {}): Error {
  if (e instanceof ApplicationFailure || e instanceof CancelledFailure) return e;
  const clean = (m: string) => scrub(m, opts.secrets ?? []);
  const err = e instanceof ProviderError ? e : (permanentError(e) ?? e);
  if (err instanceof ProviderError) {
    return err.errorClass === 'transient'
      ? ApplicationFailure.retryable(clean(err.message), 'transient')
      : ApplicationFailure.nonRetryable(clean(err.message), err.errorClass);
  }
  const msg = clean(err instanceof Error ? err.message : String(err));
  if (opts.unknownRetries) return ApplicationFailure.retryable(msg, 'unknown');
  // anything unrecognised blocks the zone (the safe default) and says so
  return ApplicationFailure.nonRetryable(`unrecognised error: ${msg}`, 'unknown');
}

export async function mapped<T>(
  fn: () => Promise<T>,
  opts: { secrets?: readonly string[]; unknownRetries?: boolean } = {},
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw asFailure(e, opts);
  }
}
