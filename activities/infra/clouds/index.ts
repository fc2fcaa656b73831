/** The registry of infra providers, one folder each, built from what they depend on. */
import { forgettingHostKeys } from '../runners/host-keys';
import { AwsProvider } from './aws';
import { GcpProvider } from './gcp';
import { KubernetesProvider } from './kubernetes';
import { LocalProvider } from './local';
import { validateClusterName } from '../../../core/names';
import { ProviderError } from '../../../core/errors';
import type { HostLedger, Provider } from './provider';
import { allowedClouds } from '../settings';
import { SimProvider } from './sim';
import { SshPoolProvider } from './ssh';

export { portNumbers } from './provider';

export interface Providers {
  /** The provider of one infra; throws for a name no provider has. */
  get(cloud: string): Provider;
  all(): Provider[];
}

export interface ProviderDeps {
  /** Who holds which SSH pool host (the pool workflows, in a worker). */
  hostLedger: HostLedger;
}

/** A ledger for processes that only read offers and checks (the CLI): reserving needs a worker. */
const noLedger: HostLedger = {
  reserve: () => Promise.reject(new Error('SSH pool hosts are reserved by a worker')),
  assignments: () => Promise.resolve({}),
  release: () => Promise.reject(new Error('SSH pool hosts are released by a worker')),
};

export function createProviders(deps: Partial<ProviderDeps> = {}): Providers {
  const list: Provider[] = [
    forgettingHostKeys(new AwsProvider()),
    forgettingHostKeys(new GcpProvider()),
    new LocalProvider(),
    new SimProvider(),
    forgettingHostKeys(new SshPoolProvider(deps.hostLedger ?? noLedger)),
    // last: its default price is 0, and ties keep the earlier infra (as SkyPilot's strict `<`)
    new KubernetesProvider(),
  ];
  const byName = new Map(list.map((p) => [p.name, guarded(p)]));
  return {
    get(cloud) {
      const p = byName.get(cloud);
      if (!p) throw new Error(`no provider for infra '${cloud}'`);
      return p;
    },
    all: () => [...byName.values()],
  };
}

function checkName(name: string): void {
  const problem = validateClusterName(name);
  if (problem) throw new ProviderError('invalid', problem);
}

/**
 * The provider with every cluster name checked before it reaches the infra: names become folder
 * names, tags, labels and instance names, so one that no provider can hold (or that walks out of
 * a folder) is refused here, as a permanent error, whoever sent it.
 */
function guarded(p: Provider): Provider {
  const g: Provider = {
    name: p.name,
    check: async () => {
      const allowed = p.name === 'local' || p.name === 'sim' ? undefined : allowedClouds();
      if (allowed && !allowed.includes(p.name))
        return {
          enabled: false,
          reason: `not in allowed_clouds (${allowed.join(', ') || 'empty'}) of the config file`,
        };
      return p.check();
    },
    offers: (r, n, c) => p.offers(r, n, c),
    provision: async (req, ctx) => {
      checkName(req.clusterName);
      const handle = await p.provision(req, ctx);
      // the ports travel with the handle, so `status --endpoints` knows them
      return req.ports?.length ? { ...handle, ports: req.ports } : handle;
    },
    query: async (name, where) => (checkName(name), p.query(name, where)),
    terminate: async (name) => (checkName(name), p.terminate(name)),
  };
  if (p.stopRefusal) g.stopRefusal = (h) => (checkName(h.clusterName), p.stopRefusal!(h));
  if (p.stop) g.stop = async (h, ctx) => (checkName(h.clusterName), p.stop!(h, ctx));
  if (p.start)
    g.start = async (h, ctx) => {
      checkName(h.clusterName);
      const handle = await p.start!(h, ctx);
      return h.ports ? { ...handle, ports: h.ports } : handle;
    };
  if (p.endpoints) g.endpoints = async (h, ports) => (checkName(h.clusterName), p.endpoints!(h, ports));
  return g;
}
