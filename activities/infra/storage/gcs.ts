/**
 * GCS buckets through @google-cloud/storage. Application-default credentials and the project as
 * the gcp infra finds them (clouds/gcp/client.ts); SKYRUN_GCS_ENDPOINT (`http://127.0.0.1:PORT`)
 * points the library at another endpoint speaking the GCS JSON API (tests: fake-gcs-server),
 * without credentials (as SKYRUN_GCE_ENDPOINT does for Compute).
 */
import { readFileSync } from 'node:fs';
import type { Storage } from '@google-cloud/storage';
import { ProviderError } from '../../../core/errors';
import { adcFile, adcProject, configuredProject } from '../clouds/gcp/client';
import { callWith, type ObjectStore } from './store';

export const emulator = () => process.env.SKYRUN_GCS_ENDPOINT || undefined;

function project(): string {
  const adc = adcFile();
  const p = configuredProject() ?? (adc ? adcProject(adc) : undefined) ?? (emulator() ? 'skyrun-test' : undefined);
  if (!p)
    throw new ProviderError('config', 'GCS: no GCP project (set gcp.project in config.yaml or GOOGLE_CLOUD_PROJECT)');
  return p;
}

let storagePromise: Promise<Storage> | undefined;
function storage(): Promise<Storage> {
  return (storagePromise ??= import('@google-cloud/storage').then(
    (m) => new m.Storage({ projectId: project(), ...(emulator() ? { apiEndpoint: emulator() } : {}) }),
  ));
}

const status = (e: unknown) => (e as { code?: number }).code;

function fail(what: string, e: unknown): never {
  const code = status(e);
  const kind = code === 401 || code === 403 ? 'auth' : 'transient';
  throw new ProviderError(kind, `GCS: ${what}: ${(e as Error)?.message ?? String(e)}`);
}

const call = callWith(fail);

export const gcsStore: ObjectStore = {
  kind: 'gcs',
  scheme: 'gs',

  async exists(bucket) {
    const s = await storage();
    return call(`looking up bucket ${bucket}`, async () => (await s.bucket(bucket).exists())[0]);
  },

  async create(bucket) {
    const s = await storage();
    try {
      await s.createBucket(bucket);
    } catch (e) {
      if (status(e) === 409 && (await this.exists(bucket))) return;
      fail(`creating bucket ${bucket}`, e);
    }
  },

  async buckets() {
    const s = await storage();
    return call('listing buckets', async () => (await s.getBuckets())[0].map((b) => b.name));
  },

  async list(bucket, prefix) {
    const s = await storage();
    return call(`listing bucket ${bucket}`, async () => {
      const [files] = await s.bucket(bucket).getFiles(prefix ? { prefix } : {});
      return files.map((f) => ({ key: f.name, size: Number(f.metadata.size ?? 0) }));
    });
  },

  async putFile(bucket, key, file) {
    const s = await storage();
    await call(`uploading ${key} to bucket ${bucket}`, () =>
      s.bucket(bucket).upload(file, { destination: key, resumable: false }),
    );
  },

  async putText(bucket, key, text) {
    const s = await storage();
    await call(`writing ${key} to bucket ${bucket}`, () => s.bucket(bucket).file(key).save(text, { resumable: false }));
  },

  async getText(bucket, key) {
    const s = await storage();
    try {
      return (await s.bucket(bucket).file(key).download())[0].toString('utf8');
    } catch (e) {
      if (status(e) === 404) return undefined;
      fail(`reading ${key} from bucket ${bucket}`, e);
    }
  },

  async getFile(bucket, key, file) {
    const s = await storage();
    await call(`downloading ${key} from bucket ${bucket}`, () =>
      s.bucket(bucket).file(key).download({ destination: file }),
    );
  },

  async remove(bucket) {
    const s = await storage();
    if (!(await this.exists(bucket))) return;
    await call(`emptying bucket ${bucket}`, () => s.bucket(bucket).deleteFiles({ force: true }));
    await call(`deleting bucket ${bucket}`, () => s.bucket(bucket).delete());
  },

  async rcloneRemote(name) {
    const emu = emulator();
    if (emu) {
      // the emulator takes any request; rclone's GCS backend speaks its JSON API at the endpoint
      return [`[${name}]`, 'type = google cloud storage', 'anonymous = true', `endpoint = ${emu}/storage/v1/`, ''].join(
        '\n',
      );
    }
    const adc = adcFile();
    if (!adc) throw new ProviderError('auth', 'GCS: no application-default credentials to mount a bucket with');
    const json = readFileSync(adc, 'utf8').replace(/\s*\n\s*/g, ' ');
    return [
      `[${name}]`,
      'type = google cloud storage',
      `project_number = ${project()}`,
      `service_account_credentials = ${json}`,
      '',
    ].join('\n');
  },
};
