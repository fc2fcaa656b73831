/** EC2's error codes (an SDK v3 error's `name`) and network errors, mapped to the taxonomy. */
import { type ErrorClass, ProviderError } from '../../../../core/errors';

const ERROR_TABLE: Array<[RegExp, ErrorClass]> = [
  [
    /^(InsufficientInstanceCapacity|InsufficientCapacity|Unsupported|SpotMaxPriceTooLow|MaxSpotInstanceCountExceeded)$/,
    'capacity',
  ],
  [/^(VcpuLimitExceeded|InstanceLimitExceeded)$/, 'quota-region'],
  [
    /^(AuthFailure|UnauthorizedOperation|ExpiredToken|ExpiredTokenException|RequestExpired|InvalidClientTokenId|SignatureDoesNotMatch|CredentialsProviderError)$/,
    'auth',
  ],
  [
    /^(RequestLimitExceeded|Throttling|ThrottlingException|InternalError|InternalFailure|ServiceUnavailable|Unavailable|TimeoutError|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN)$/,
    'transient',
  ],
  [
    /^(InvalidParameterValue|InvalidParameterCombination|InvalidAMIID\..*|InvalidInstanceType|MissingParameter)$/,
    'invalid',
  ],
  [/^(InvalidVpcID\.NotFound|InvalidSubnetID\.NotFound|InvalidGroup\.NotFound)$/, 'config'],
];

/** Never let an access key id reach a message. */
function redact(s: string): string {
  return s.replace(/\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g, '<redacted>');
}

/** The error's EC2 code (or a network error's code). */
export function codeOf(e: unknown): string {
  const err = e as { name?: string; Code?: string; code?: string; message?: string };
  if (err?.code && /^E[A-Z]+$/.test(err.code)) return err.code;
  if (/socket hang up/i.test(err?.message ?? '')) return 'ECONNRESET';
  return err?.Code ?? err?.name ?? 'Error';
}

/** The taxonomy class of an EC2 (or network) error, with one line that says why. */
export function awsError(e: unknown): ProviderError {
  if (e instanceof ProviderError) return e;
  const code = codeOf(e);
  const cls = ERROR_TABLE.find(([re]) => re.test(code))?.[1] ?? 'unknown';
  const msg = String((e as Error)?.message ?? e).split('\n')[0]!;
  return new ProviderError(cls, redact(msg.startsWith(code) ? msg : `${code}: ${msg}`), code);
}

/** `fn`, with its errors mapped to ProviderErrors. */
export async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw awsError(e);
  }
}

/** `fn`, where the listed codes mean "already done" (they return undefined). */
export async function unless<T>(codes: string[], fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (codes.includes(codeOf(e))) return undefined;
    throw awsError(e);
  }
}
