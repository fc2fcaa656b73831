/**
 * The error taxonomy. Providers map their own errors to one of these classes (scopeOf says what
 * each blocks before failover moves on); non-transient classes travel as non-retryable
 * ApplicationFailures whose `type` is the class, so the workflow (not the retry policy) decides
 * what comes next.
 */
export const ERROR_CLASSES = [
  'transient',
  'capacity',
  'quota-region',
  'quota-cloud',
  'auth',
  'config',
  'invalid',
  'unknown',
] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/** What a failed provisioning attempt blocks before failover moves on. */
export type BlockScope = 'none' | 'zone' | 'region' | 'cloud' | 'all';

export function scopeOf(cls: ErrorClass): BlockScope {
  switch (cls) {
    case 'transient':
      return 'none';
    case 'capacity':
    case 'unknown':
      return 'zone';
    case 'quota-region':
      return 'region';
    case 'quota-cloud':
    case 'auth':
    case 'config':
      return 'cloud';
    case 'invalid':
      return 'all';
  }
}

export function isErrorClass(s: string | undefined | null): s is ErrorClass {
  return !!s && (ERROR_CLASSES as readonly string[]).includes(s);
}

/** Thrown by providers and runners; the activity layer turns it into an ApplicationFailure. */
export class ProviderError extends Error {
  constructor(
    readonly errorClass: ErrorClass,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** Failure types the workflows throw for the client to recognise. */
export const FailureTypes = {
  ResourcesUnavailable: 'ResourcesUnavailable',
  ClusterNotUp: 'ClusterNotUp',
  JobNotFound: 'JobNotFound',
  InvalidRequest: 'InvalidRequest',
} as const;
