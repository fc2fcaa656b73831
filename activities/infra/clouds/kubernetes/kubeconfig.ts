/**
 * The user's kubeconfig, read through @kubernetes/client-node only: KUBECONFIG (colon-separated
 * files, merged as kubectl does) or ~/.kube/config. Each context is a region of the kubernetes
 * infra; which ones SkyRun may use comes from SKYRUN_HOME/config.yaml (SkyPilot's
 * `kubernetes.allowed_contexts`), else the current context alone. Shared by the provider and the
 * exec runner, so both reach a context the same way.
 *
 * In a pod (a worker run inside the cluster) with no kubeconfig file: the pod's service account
 * (KUBERNETES_SERVICE_HOST/PORT and the token, CA and namespace files client-node's
 * loadFromCluster reads), as one context named `in-cluster`, as SkyPilot names it. A kubeconfig
 * file, when there is one, wins (kubectl's order).
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { ProviderError } from '../../../../core/errors';
import { cloudSettings } from '../../settings';
import { clientNode } from './lib';

/** The kubeconfig files kubectl would read here. */
export function kubeconfigFiles(): string[] {
  const env = process.env.KUBECONFIG;
  if (env) return env.split(path.delimiter).filter(Boolean);
  return [path.join(os.homedir(), '.kube', 'config')];
}

/** The context name of the pod's own service account (SkyPilot's). */
export const IN_CLUSTER_CONTEXT = 'in-cluster';
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Where the service-account folder's path starts ('' in a pod: the files are under
 * /var/run/secrets/...). SKYRUN_K8S_SA_PATH_PREFIX moves it, for tests only (a pod's
 * files are root-owned paths a test cannot write).
 */
function serviceAccountPrefix(): string {
  return process.env.SKYRUN_K8S_SA_PATH_PREFIX ?? '';
}

/** Whether this process runs in a pod whose service account it can use. */
export function inCluster(): boolean {
  return (
    !!process.env.KUBERNETES_SERVICE_HOST &&
    !!process.env.KUBERNETES_SERVICE_PORT &&
    existsSync(`${serviceAccountPrefix()}${SERVICE_ACCOUNT_DIR}/token`)
  );
}

/** The pod's service account as a kubeconfig with one context, `in-cluster`. */
function inClusterConfig(): KubeConfig {
  const sa = new (clientNode().KubeConfig)();
  sa.loadFromCluster(serviceAccountPrefix());
  const kc = new (clientNode().KubeConfig)();
  kc.loadFromOptions({
    clusters: sa.getClusters(),
    users: sa.getUsers(),
    contexts: sa
      .getContexts()
      .map((c) => ({ ...c, name: IN_CLUSTER_CONTEXT, namespace: c.namespace?.trim() || undefined })),
    currentContext: IN_CLUSTER_CONTEXT,
  });
  return kc;
}

/** The kubeconfig (every file merged), else the pod's service account; a config error naming the files when neither. */
export function loadKubeConfig(): KubeConfig {
  const files = kubeconfigFiles().filter((f) => existsSync(f));
  if (files.length === 0) {
    if (inCluster()) return inClusterConfig();
    throw new ProviderError(
      'config',
      `no kubeconfig found (looked at ${kubeconfigFiles().join(', ')}; set KUBECONFIG) and not running in a pod with a service account`,
    );
  }
  const kc = new (clientNode().KubeConfig)();
  try {
    kc.loadFromFile(files[0]);
    for (const f of files.slice(1)) {
      const more = new (clientNode().KubeConfig)();
      more.loadFromFile(f);
      kc.mergeConfig(more);
    }
  } catch (e) {
    throw new ProviderError('config', `kubeconfig ${files.join(', ')}: ${(e as Error).message}`);
  }
  return kc;
}

/** A copy of the kubeconfig with `context` current (what makeApiClient and Exec use). */
export function forContext(kc: KubeConfig, context: string): KubeConfig {
  const ctx = kc.getContextObject(context);
  if (!ctx) throw new ProviderError('config', `kubeconfig has no context '${context}'`);
  const one = new (clientNode().KubeConfig)();
  one.loadFromOptions({
    clusters: kc.getClusters(),
    users: kc.getUsers(),
    contexts: kc.getContexts(),
    currentContext: context,
  });
  return one;
}

/** The contexts SkyRun may use, in the user's order (allowed_contexts), else the current one. */
export function allowedContexts(kc: KubeConfig): string[] {
  const allowed = cloudSettings('kubernetes').allowed_contexts;
  if (allowed === undefined) {
    const current = kc.getCurrentContext();
    return current ? [current] : [];
  }
  if (allowed === 'all') return kc.getContexts().map((c) => c.name); // SkyPilot's `allowed_contexts: all`
  if (!Array.isArray(allowed) || allowed.some((c) => typeof c !== 'string')) {
    throw new ProviderError('config', 'config.yaml: kubernetes.allowed_contexts: expected a list of context names');
  }
  return allowed as string[];
}

/** The namespace for a context: config.yaml's kubernetes.namespace, the context's own, else default. */
export function namespaceFor(kc: KubeConfig, context: string): string {
  const configured = cloudSettings('kubernetes').namespace;
  if (typeof configured === 'string' && configured) return configured;
  return kc.getContextObject(context)?.namespace || 'default';
}
