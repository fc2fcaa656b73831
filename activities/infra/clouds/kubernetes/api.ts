/**
 * The Kubernetes API per context, every call bounded by a timeout (an unreachable cluster must
 * not stall `launch`, `check` or `optimize`), and every failure mapped to the error taxonomy
 * with a message built from the API's Status (never from request headers: no token ever
 * reaches a message).
 */
import type { ApiException, CoreV1Api, KubeConfig, RequestContext, ResponseContext } from '@kubernetes/client-node';
import { type ErrorClass, ProviderError } from '../../../../core/errors';
import { forContext } from './kubeconfig';
import { clientNode } from './lib';

/** How long one API call may take (a list, a create); env SKYRUN_K8S_API_TIMEOUT_MS. */
export function apiTimeoutMs(): number {
  const v = Number(process.env.SKYRUN_K8S_API_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 10_000;
}

/** Where calls go: a context and namespace, and the API to reach them. */
export interface Target {
  api: CoreV1Api;
  context: string;
  namespace: string;
}

/** CoreV1Api on one context of the kubeconfig, with a per-call timeout. */
export function coreApi(kc: KubeConfig, context: string, timeoutMs = apiTimeoutMs()): CoreV1Api {
  const one = forContext(kc, context);
  const cluster = one.getCurrentCluster();
  if (!cluster) throw new ProviderError('config', `kubeconfig context '${context}' names no cluster`);
  const { CoreV1Api, ServerConfiguration, createConfiguration } = clientNode();
  const config = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: one },
    promiseMiddleware: [
      {
        pre: async (ctx: RequestContext) => {
          ctx.setSignal(AbortSignal.timeout(timeoutMs));
          return ctx;
        },
        post: async (res: ResponseContext) => res,
      },
    ],
  });
  return new CoreV1Api(config);
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** The HTTP status of an API failure (undefined for network errors). */
export function statusOf(e: unknown): number | undefined {
  return isApiException(e) ? e.code : undefined;
}

/** An ApiException (by shape: the class lives in a lazily loaded module). */
function isApiException(e: unknown): e is ApiException<unknown> {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'number' && 'body' in e;
}

/** The Status message the API server sent, or '' when it sent none. */
function statusMessage(e: ApiException<unknown>): string {
  const body = e.body as unknown;
  let parsed: Record<string, unknown> | undefined;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return body.slice(0, 300);
    }
  } else if (body && typeof body === 'object') parsed = body as Record<string, unknown>;
  const m = parsed?.message ?? parsed?.reason;
  return typeof m === 'string' ? m : '';
}

/** Classify any Kubernetes API failure (a ProviderError passes through). */
export function kubeError(e: unknown, what: string): ProviderError {
  if (e instanceof ProviderError) return e;
  if (isApiException(e)) {
    const code = e.code;
    const msg = statusMessage(e);
    let cls: ErrorClass = 'unknown';
    if (code === 401) cls = 'auth';
    else if (code === 403 && /exceeded quota/i.test(msg)) cls = 'quota-region';
    else if (code === 403 && /failed quota/i.test(msg))
      cls = 'config'; // e.g. a quota that needs limits set
    else if (code === 403) cls = 'auth';
    else if (code === 404) cls = 'config';
    else if (code === 400 || code === 422) cls = 'invalid';
    else if (code === 409 || code === 429 || code >= 500) cls = 'transient';
    const hint = code === 401 ? ' (the server refused the kubeconfig credentials)' : '';
    return new ProviderError(cls, `${what}: HTTP ${code}${msg ? `: ${msg}` : ''}${hint}`, String(code));
  }
  const err = e as { name?: string; code?: string; errno?: string; message?: string; cause?: { code?: string } };
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError' || /aborted/i.test(err?.message ?? ''))
    return new ProviderError('transient', `${what}: the API server did not answer in time`);
  const net = [err?.code, err?.errno, err?.cause?.code].find((c) => typeof c === 'string' && NETWORK_CODES.has(c));
  if (net || err?.name === 'FetchError')
    return new ProviderError(
      'transient',
      `${what}: API server unreachable (${net ?? err?.message ?? 'network error'})`,
    );
  return new ProviderError('unknown', `${what}: ${String(err?.message ?? e).split('\n')[0]}`);
}

/** Whether a failure is the API server's 403 Forbidden (RBAC: these credentials may not do that here). */
export function forbidden(e: unknown): boolean {
  return e instanceof ProviderError ? e.errorClass === 'auth' && e.code === '403' : statusOf(e) === 403;
}

/** Run one call, classifying its failure. */
export async function call<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw kubeError(e, what);
  }
}

/** The call's result, or undefined when the object is not there (404). */
export async function unlessNotFound<T>(what: string, f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (e) {
    if (statusOf(e) === 404) return undefined;
    throw kubeError(e, what);
  }
}
