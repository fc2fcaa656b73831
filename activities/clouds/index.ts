/** The registry of infra providers, one module each. */
import { AwsProvider } from './aws';
import { GcpProvider } from './gcp';
import { LocalProvider } from './local';
import type { Provider } from './provider';
import { SimProvider } from './sim';
import { SshPoolProvider } from './ssh';

const providers: Record<string, Provider> = {
  aws: new AwsProvider(),
  gcp: new GcpProvider(),
  local: new LocalProvider(),
  sim: new SimProvider(),
  ssh: new SshPoolProvider(),
};

export function providerFor(cloud: string): Provider {
  const p = providers[cloud];
  if (!p) throw new Error(`no provider for infra '${cloud}'`);
  return p;
}

export function allProviders(): Provider[] {
  return Object.values(providers);
}
