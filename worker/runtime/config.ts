/**
 * Where the Temporal server is: TEMPORAL_ADDRESS or an envconfig profile (temporal.toml,
 * TEMPORAL_PROFILE, TEMPORAL_API_KEY, TLS...) when set; otherwise the embedded dev server on
 * loopback, which SkyRun starts itself.
 */
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

export interface ServerSettings {
  /** true: SkyRun's own dev server, started on demand */
  embedded: boolean;
  address: string;
  namespace: string;
  connectionOptions: NativeConnectionOptions;
}

export function embeddedPorts(): { port: number; uiPort: number } {
  const port = Number(process.env.SKYRUN_TEMPORAL_PORT || 7233);
  const uiPort = Number(process.env.SKYRUN_UI_PORT || port + 1000);
  return { port, uiPort };
}

export function serverSettings(): ServerSettings {
  const external = process.env.TEMPORAL_ADDRESS || process.env.TEMPORAL_PROFILE || process.env.TEMPORAL_CONFIG_FILE;
  if (external) {
    const cfg = loadClientConnectConfig({ profile: process.env.TEMPORAL_PROFILE });
    const address = cfg.connectionOptions.address ?? 'localhost:7233';
    return {
      embedded: false,
      address,
      namespace: cfg.namespace ?? 'default',
      connectionOptions: { ...cfg.connectionOptions, address },
    };
  }
  const address = `127.0.0.1:${embeddedPorts().port}`;
  return { embedded: true, address, namespace: 'default', connectionOptions: { address } };
}
