/** The registry of infra providers, one folder each, built from what they depend on. */
import { forgettingHostKeys } from '../runners/host-keys';
import { AwsProvider } from './aws';
import { GcpProvider } from './gcp';
import { LocalProvider } from './local';
import type { HostLedger, Provider } from './provider';
import { SimProvider } from './sim';
import { SshPoolProvider } from './ssh';

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
  ];
  const byName = new Map(list.map((p) => [p.name, p]));
  return {
    get(cloud) {
      const p = byName.get(cloud);
      if (!p) throw new Error(`no provider for infra '${cloud}'`);
      return p;
    },
    all: () => list,
  };
}
