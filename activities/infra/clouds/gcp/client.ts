/**
 * Project, credentials and Compute clients. Application-default credentials; the project comes
 * from `gcp.project` in SkyRun's config, else GOOGLE_CLOUD_PROJECT / CLOUDSDK_CORE_PROJECT, else
 * the ADC's own project. SKYRUN_GCE_ENDPOINT (`http://127.0.0.1:PORT`) points the client at
 * another endpoint speaking the Compute REST API (tests): plain HTTP, no credentials.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ProviderError } from '../../../../core/errors';
import { cloudSettings } from '../../settings';
import { gcpError } from './errors';

/** The project: SkyRun's config, the environment, then the ADC file's own. */
export function configuredProject(): string | undefined {
  const p = cloudSettings('gcp').project;
  if (typeof p === 'string' && p) return p;
  return (
    process.env.GOOGLE_CLOUD_PROJECT || process.env.CLOUDSDK_CORE_PROJECT || process.env.GCLOUD_PROJECT || undefined
  );
}

/** The ADC file that would be used: GOOGLE_APPLICATION_CREDENTIALS or gcloud's well-known one. */
export function adcFile(): string | undefined {
  const env = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  if (env) return env;
  const dir = process.env.CLOUDSDK_CONFIG || path.join(os.homedir(), '.config', 'gcloud');
  const f = path.join(dir, 'application_default_credentials.json');
  return existsSync(f) ? f : undefined;
}

export function adcProject(file: string): string | undefined {
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { project_id?: string; quota_project_id?: string };
    return j.project_id || j.quota_project_id || undefined;
  } catch {
    return undefined;
  }
}

export function endpoint(): URL | undefined {
  const e = process.env.SKYRUN_GCE_ENDPOINT;
  if (!e) return undefined;
  try {
    return new URL(e);
  } catch {
    throw new ProviderError('config', `SKYRUN_GCE_ENDPOINT=${e}: not a URL (expected http://HOST:PORT)`);
  }
}

type Compute = typeof import('@google-cloud/compute');
export interface Clients {
  project: string;
  instances: InstanceType<Compute['InstancesClient']>;
  zoneOps: InstanceType<Compute['ZoneOperationsClient']>;
  firewalls: InstanceType<Compute['FirewallsClient']>;
  globalOps: InstanceType<Compute['GlobalOperationsClient']>;
  projects: InstanceType<Compute['ProjectsClient']>;
}

/**
 * An auth client that adds no token and fetches with Node's own fetch: what the REST transport
 * needs (`getRequestHeaders` to be taken as a client, `fetch` to send) for a plain-HTTP endpoint.
 */
const noAuth = {
  universeDomain: 'googleapis.com',
  async getRequestHeaders() {
    return new Headers();
  },
  fetch(url: string | URL, init: RequestInit) {
    return fetch(url, init);
  },
};

/**
 * google-auth-library probes the GCE metadata server (a link-local address) when it finds
 * nothing else: only wanted on GCE VMs, where `gcp: {use_metadata_server: true}` says so (and
 * then wins over a METADATA_SERVER_DETECTION=none in the environment).
 */
export function metadataServerDetection(): void {
  if (cloudSettings('gcp').use_metadata_server !== true) process.env.METADATA_SERVER_DETECTION ??= 'none';
  else if (process.env.METADATA_SERVER_DETECTION === 'none') process.env.METADATA_SERVER_DETECTION = 'ping-only';
}

let cached: { key: string; clients: Promise<Clients> } | undefined;

async function makeClients(): Promise<Clients> {
  metadataServerDetection();
  const ep = endpoint();
  let project = configuredProject();
  if (!project && !ep) {
    const file = adcFile();
    project = file ? adcProject(file) : undefined;
    if (!project) {
      try {
        const { GoogleAuth } = await import('google-auth-library');
        project = (await new GoogleAuth().getProjectId()) || undefined;
      } catch {
        /* below */
      }
    }
  }
  if (!project) {
    throw new ProviderError('config', 'no GCP project: set gcp.project in the SkyRun config, or GOOGLE_CLOUD_PROJECT');
  }
  const compute: Compute = await import('@google-cloud/compute');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const opts: Record<string, any> = ep
    ? {
        apiEndpoint: ep.hostname,
        port: Number(ep.port || (ep.protocol === 'https:' ? 443 : 80)),
        protocol: ep.protocol.replace(':', ''),
        fallback: true,
        authClient: noAuth,
        projectId: project,
      }
    : { fallback: true, projectId: project };
  return {
    project,
    instances: new compute.InstancesClient({ ...opts }),
    zoneOps: new compute.ZoneOperationsClient({ ...opts }),
    firewalls: new compute.FirewallsClient({ ...opts }),
    globalOps: new compute.GlobalOperationsClient({ ...opts }),
    projects: new compute.ProjectsClient({ ...opts }),
  };
}

/** The clients for the current settings (made again when the endpoint or project changes). */
export function clients(): Promise<Clients> {
  const key = `${process.env.SKYRUN_GCE_ENDPOINT ?? ''}|${configuredProject() ?? ''}`;
  if (!cached || cached.key !== key) {
    const p = makeClients();
    cached = { key, clients: p };
    p.catch(() => {
      if (cached?.clients === p) cached = undefined;
    });
  }
  return cached.clients;
}

/** A Compute Engine operation as the REST API returns it (the fields used here). */
export interface GceOperation {
  name?: string | null;
  status?: string | null;
  zone?: string | null;
  error?: { errors?: Array<{ code?: string | null; message?: string | null }> | null } | null;
}

/** Wait for a zonal (or, without a zone, global) operation; its error as a ProviderError. */
export async function waitOp(
  c: Clients,
  op: GceOperation,
  zone: string | undefined,
  sleep?: (ms: number) => Promise<void>,
): Promise<void> {
  let cur = op;
  for (let round = 0; cur.status !== 'DONE'; round++) {
    if (round > 0 && sleep) await sleep(Math.min(500 * round, 5000));
    try {
      [cur] = zone
        ? ((await c.zoneOps.wait({ project: c.project, zone, operation: cur.name! })) as unknown as [GceOperation])
        : ((await c.globalOps.wait({ project: c.project, operation: cur.name! })) as unknown as [GceOperation]);
    } catch (e) {
      throw gcpError(e, `waiting for ${cur.name}`);
    }
  }
  if (cur.error?.errors?.length) throw gcpError(cur.error);
}
