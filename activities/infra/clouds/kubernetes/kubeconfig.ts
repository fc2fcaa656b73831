/**
 * The user's kubeconfig, read through @kubernetes/client-node only: KUBECONFIG (colon-separated
 * files, merged as kubectl does) or ~/.kube/config. Each context is a region of the kubernetes
 * infra; which ones SkyRun may use comes from SKYRUN_HOME/config.yaml (SkyPilot's
 * `kubernetes.allowed_contexts`), else the current context alone. Shared by the provider and the
 * exec runner, so both reach a context the same way.
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

/** The kubeconfig (every file merged); a config error naming the files when there is none. */
export function loadKubeConfig(): KubeConfig {
  const files = kubeconfigFiles().filter((f) => existsSync(f));
  if (files.length === 0) {
    throw new ProviderError(
      'config',
      `no kubeconfig found (looked at ${kubeconfigFiles().join(', ')}; set KUBECONFIG)`,
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
