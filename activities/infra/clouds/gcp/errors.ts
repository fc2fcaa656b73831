/** GCP's codes and reasons (operation errors, HTTP errors, gRPC statuses, network errors) mapped to the taxonomy. */
import { type ErrorClass, ProviderError } from '../../../../core/errors';

/**
 * Codes (operation `errors[].code`, HTTP `errors[].reason`, gRPC status names) to classes. References:
 * https://cloud.google.com/compute/docs/troubleshooting/troubleshooting-vm-creation and
 * https://cloud.google.com/compute/docs/api/handle-errors.
 */
const CODE_CLASSES: Record<string, ErrorClass> = {
  // capacity (blocks the zone): the zone has no room for this machine now; another zone may
  ZONE_RESOURCE_POOL_EXHAUSTED: 'capacity',
  ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS: 'capacity',
  resourcePoolExhausted: 'capacity',
  // "the resource is not available in this zone at this time" (spot / GPU stock-outs)
  UNSUPPORTED_OPERATION: 'capacity',
  insufficientCapacity: 'capacity',
  STOCKOUT: 'capacity',
  // quota-region (blocks the region; quotaClass below moves *_ALL_REGIONS to quota-cloud)
  QUOTA_EXCEEDED: 'quota-region',
  quotaExceeded: 'quota-region',
  // auth (blocks the cloud): the credentials cannot do this anywhere
  PERMISSION_DENIED: 'auth',
  forbidden: 'auth',
  UNAUTHENTICATED: 'auth',
  authError: 'auth',
  required: 'auth',
  // config (blocks the cloud): the project is not set up (network, project, API)
  VPC_NOT_FOUND: 'config',
  PROJECT_NOT_FOUND: 'config',
  accessNotConfigured: 'config',
  SERVICE_DISABLED: 'config',
  // transient (retried in place): throttling and server-side failures
  rateLimitExceeded: 'transient',
  userRateLimitExceeded: 'transient',
  RATE_LIMIT_EXCEEDED: 'transient',
  RESOURCE_OPERATION_RATE_EXCEEDED: 'transient',
  RESOURCE_NOT_READY: 'transient',
  backendError: 'transient',
  internalError: 'transient',
  INTERNAL_ERROR: 'transient',
  // invalid (stops the launch): a request no zone or retry can fix (MESSAGE_RULES first)
  invalid: 'invalid',
  badRequest: 'invalid',
  INVALID_ARGUMENT: 'invalid',
  INVALID_FIELD_VALUE: 'invalid',
  INVALID_USAGE: 'invalid',
};

/**
 * Messages that say more than their code (checked first). Compute Engine answers both with HTTP
 * 400 `invalid`/`badRequest` (or an operation error), which alone would stop the whole launch.
 */
const MESSAGE_RULES: Array<{ re: RegExp; cls: ErrorClass; code: string }> = [
  // "Invalid value for field 'resource.machineType': '...'. Machine type with name 'c3-standard-4'
  // does not exist in zone 'us-central1-f'." (also accelerator types): this zone does not offer
  // it (a catalog ahead of the zone); other zones may, so it blocks the zone like capacity
  {
    re: /\b(machine|accelerator) type (with name )?'?[\w-]+'? does not exist in zone/i,
    cls: 'capacity',
    code: 'NOT_IN_ZONE',
  },
  // "[pd-standard, n4-standard-2] features are not compatible for creating instance" (seen in
  // SkyPilot #3933 and dsub #301), or "... does not support ... disk type": the boot disk type
  // can never work on this machine series, in any zone; retrying (or blocking one zone and
  // trying the next, as capacity would, forever under retry_until_up) cannot help
  {
    re: /features (and .*)?are not compatible for creating instance|disk ?type .*not supported|does not support .*disk/is,
    cls: 'invalid',
    code: 'DISK_TYPE_NOT_SUPPORTED',
  },
];

/** HTTP statuses (and the gRPC codes the client maps them to) when no code is known. */
function statusClass(http: number | undefined, grpc: number | undefined): ErrorClass | undefined {
  if (http === 401 || grpc === 16) return 'auth';
  if (http === 403 || grpc === 7) return 'auth';
  if (http === 429 || grpc === 8) return 'transient';
  if ((http !== undefined && http >= 500) || grpc === 13 || grpc === 14 || grpc === 4) return 'transient';
  if (http === 400 || grpc === 3) return 'invalid';
  return undefined;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

interface GcpErrorInfo {
  codes: string[];
  message: string;
  http?: number;
  grpc?: number;
  network?: boolean;
}

/** The codes, message and status an operation error or a client error carries. */
function errorInfo(e: unknown): GcpErrorInfo {
  const err = e as Record<string, any>;
  const codes: string[] = [];
  const messages: string[] = [];
  // an operation's `error.errors[]` (also what we throw for a failed operation)
  for (const x of (err?.errors ?? err?.error?.errors ?? []) as Array<Record<string, any>>) {
    if (x?.code) codes.push(String(x.code));
    if (x?.reason) codes.push(String(x.reason));
    if (x?.message) messages.push(String(x.message));
  }
  if (typeof err?.reason === 'string') codes.push(err.reason);
  for (const d of (err?.statusDetails ?? []) as Array<Record<string, any>>)
    if (typeof d?.reason === 'string') codes.push(d.reason);
  // a gaxios error (auth library calls): the response body's error
  const body = err?.response?.data?.error;
  if (body && typeof body === 'object') {
    for (const x of (body.errors ?? []) as Array<Record<string, any>>) if (x?.reason) codes.push(String(x.reason));
    if (typeof body.status === 'string') codes.push(body.status);
    if (body.message) messages.push(String(body.message));
  }
  const http =
    typeof err?.response?.status === 'number'
      ? err.response.status
      : typeof err?.status === 'number'
        ? err.status
        : undefined;
  const grpc = typeof err?.code === 'number' ? err.code : undefined;
  if (typeof err?.code === 'string') codes.push(err.code);
  const cause = err?.cause as Record<string, any> | undefined;
  const netCode = [err?.code, cause?.code, err?.errno].find((c) => typeof c === 'string' && NETWORK_CODES.has(c));
  const network = !!netCode || (err instanceof TypeError && /fetch failed/.test(err.message));
  const message = messages.length ? messages.join('; ') : String(err?.message ?? e);
  return { codes, message, http, grpc, network };
}

/** Classify any GCP failure into the taxonomy (a ProviderError passes through). */
export function gcpError(e: unknown, what?: string): ProviderError {
  if (e instanceof ProviderError) return e;
  const info = errorInfo(e);
  let cls: ErrorClass | undefined;
  let code: string | undefined;
  const rule = MESSAGE_RULES.find((r) => r.re.test(info.message));
  if (rule) [cls, code] = [rule.cls, rule.code];
  for (const c of cls ? [] : info.codes) {
    if (CODE_CLASSES[c]) {
      cls = CODE_CLASSES[c];
      code = c;
      break;
    }
  }
  if (!cls && /\bQuota '?[A-Z0-9_]+'? exceeded/i.test(info.message)) [cls, code] = ['quota-region', 'QUOTA_EXCEEDED'];
  if (!cls && /does not have enough resources available|resource pool exhausted/i.test(info.message))
    [cls, code] = ['capacity', 'ZONE_RESOURCE_POOL_EXHAUSTED'];
  if (!cls && info.network) cls = 'transient';
  cls ??= statusClass(info.http, info.grpc) ?? 'unknown';
  if (cls === 'quota-region' && /\b[A-Z0-9_]+_ALL_REGIONS\b/.test(info.message)) cls = 'quota-cloud';
  const prefix = code ?? info.codes[0];
  const text = `${prefix && !info.message.startsWith(prefix) ? `${prefix}: ` : ''}${info.message}`;
  return new ProviderError(cls, what ? `${what}: ${text}` : text, code ?? info.codes[0]);
}

export const isNotFound = (e: unknown) => {
  const info = errorInfo(e);
  return (
    info.http === 404 || info.grpc === 5 || info.codes.includes('notFound') || info.codes.includes('RESOURCE_NOT_FOUND')
  );
};

export const isAlreadyExists = (e: unknown) => {
  const info = errorInfo(e);
  return info.http === 409 || info.grpc === 6 || info.codes.includes('alreadyExists');
};
