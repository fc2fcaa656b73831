/** EC2's error codes (an SDK v3 error's `name`) and network errors, mapped to the taxonomy. */
import { type ErrorClass, ProviderError } from '../../../../core/errors';

/**
 * Each EC2 code (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html)
 * and why it has its class: the class decides what failover blocks (core/errors.ts scopeOf).
 */
const ERROR_TABLE: Array<[RegExp, ErrorClass, string]> = [
  [/^InsufficientInstanceCapacity$/, 'capacity', 'AWS has no capacity for the type in this zone now'],
  [/^InsufficientCapacity$/, 'capacity', 'not enough capacity for the request in this zone'],
  [/^Unsupported$/, 'capacity', 'the type is not offered in this zone (another zone may have it)'],
  [/^SpotMaxPriceTooLow$/, 'capacity', 'the spot price in this zone is above what we offer'],
  [/^UnfulfillableCapacity$/, 'capacity', 'the zone cannot fulfil the capacity asked for'],
  [/^InsufficientFreeAddressesInSubnet$/, 'capacity', "the zone's subnet has no free IPs; another zone's may"],
  [/^(VcpuLimitExceeded|InstanceLimitExceeded)$/, 'quota-region', 'vCPU and instance quotas are per region'],
  [/^MaxSpotInstanceCountExceeded$/, 'quota-region', "the account's spot quota (per region), not capacity"],
  [/^InvalidAMIID\..*$/, 'quota-region', 'AMIs are per region: another region has its own image'],
  [/^OptInRequired$/, 'quota-region', 'the region (or the image) needs an opt-in this account lacks'],
  [/^PendingVerification$/, 'quota-region', 'AWS is still validating this account for the region'],
  [/^VPCIdNotSpecified$/, 'quota-region', 'the region has no default VPC; another region may'],
  [
    /^(AuthFailure|UnauthorizedOperation|ExpiredToken|ExpiredTokenException|RequestExpired|InvalidClientTokenId|SignatureDoesNotMatch|CredentialsProviderError)$/,
    'auth',
    'the credentials are missing, expired or not allowed to do this',
  ],
  [
    /^(RequestLimitExceeded|Throttling|ThrottlingException|InternalError|InternalFailure|ServiceUnavailable|Unavailable|TimeoutError|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN)$/,
    'transient',
    'throttling, a server fault or the network: the same call may work again',
  ],
  [/^InvalidKeyPair\.NotFound$/, 'transient', 'the key pair was just imported: eventually consistent'],
  [
    /^(InvalidParameterValue|InvalidParameterCombination|InvalidInstanceType|MissingParameter|MissingInput)$/,
    'invalid',
    'the request itself is wrong: no other zone or region fixes it',
  ],
  [
    /^IdempotentParameterMismatch$/,
    'unknown',
    'a ClientToken reused with other parameters: block the zone; the next attempt has a new token',
  ],
  [
    /^(InvalidVpcID\.NotFound|InvalidSubnetID\.NotFound|InvalidGroup\.NotFound)$/,
    'config',
    'network resources SkyRun relies on are gone (fresh groups are retried before this)',
  ],
];

/** The class of an EC2 code and why ('unknown' for a code nobody mapped). */
export function classOf(code: string): { cls: ErrorClass; why: string } {
  const row = ERROR_TABLE.find(([re]) => re.test(code));
  return row ? { cls: row[1], why: row[2] } : { cls: 'unknown', why: 'not mapped' };
}

/** Never let an access key id reach a message. */
function redact(s: string): string {
  return s.replace(/\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g, '<redacted>');
}

/** The error's EC2 code (or a network error's code). */
export function codeOf(e: unknown): string {
  if (e instanceof ProviderError) return e.code ?? 'Error';
  const err = e as { name?: string; Code?: string; code?: string; message?: string };
  if (err?.code && /^E[A-Z]+$/.test(err.code)) return err.code;
  if (/socket hang up/i.test(err?.message ?? '')) return 'ECONNRESET';
  return err?.Code ?? err?.name ?? 'Error';
}

/** The taxonomy class of an EC2 (or network) error, with one line that says why. */
export function awsError(e: unknown): ProviderError {
  if (e instanceof ProviderError) return e;
  const code = codeOf(e);
  const { cls } = classOf(code);
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

/** How long a resource SkyRun just created may stay invisible to other calls. */
export const CONSISTENCY_MS = 2 * 60_000;

/**
 * `fn`, tried again with backoff while it fails with one of `codes` (EC2 is eventually
 * consistent: a resource just created may be "not found" for a while), for at most `ms`.
 * https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html
 */
export async function retrying<T>(
  codes: string[],
  fn: () => Promise<T>,
  sleep: (ms: number) => Promise<void>,
  ms = CONSISTENCY_MS,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (let wait = 500; ; wait = Math.min(wait * 2, 5_000)) {
    try {
      return await fn();
    } catch (e) {
      if (!codes.includes(codeOf(e)) || Date.now() + wait > deadline) throw awsError(e);
      await sleep(wait);
    }
  }
}
