/**
 * Buckets for file_mounts (core/task/storage.ts says which): creating and filling them before a
 * launch (`source`), copying them for a node (COPY), the rclone remote a node mounts them with
 * (MOUNT, MOUNT_CACHED), and `skyrun storage ls|delete`.
 *
 * Tracking is stateless: a bucket SkyRun created holds one small object, MARKER (JSON: managed,
 * persistent, cluster, created), written when it is created. `storage ls` lists the buckets that
 * hold it; `storage delete` and `down` (for persistent: false) delete only those. Buckets SkyRun
 * did not create are never deleted. (A marker object rather than bucket tags or labels: one way
 * for both stores, and the GCS emulator keeps no labels.) COPY leaves the marker out.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ProviderError } from '../../../core/errors';
import type { BucketMount, BucketStore } from '../../../core/task/storage';
import { localCredentialSource } from '../clouds/aws/client';
import { adcFile } from '../clouds/gcp/client';
import { gcsStore } from './gcs';
import { s3Store } from './s3';
import type { ObjectStore } from './store';

export type { ObjectStore } from './store';

/** The object at the root of every bucket SkyRun created. */
export const MARKER = '.skyrun-storage.json';

export interface Marker {
  managed: true;
  persistent: boolean;
  /** the cluster whose launch created it */
  cluster: string;
  /** ms since the epoch */
  created: number;
}

export interface StorageRow extends Marker {
  name: string;
  store: BucketStore;
}

export function storeFor(kind: BucketStore): ObjectStore {
  return kind === 'gcs' ? gcsStore : s3Store;
}

/** The stores this machine has credentials (or an emulator) for: the ones `storage ls` asks. */
export function configuredStores(): ObjectStore[] {
  const out: ObjectStore[] = [];
  if (process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || localCredentialSource()) out.push(s3Store);
  if (process.env.SKYRUN_GCS_ENDPOINT || adcFile()) out.push(gcsStore);
  return out;
}

async function markerOf(store: ObjectStore, bucket: string): Promise<Marker | undefined> {
  const text = await store.getText(bucket, MARKER).catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const m = JSON.parse(text) as Marker;
    return m.managed === true ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Every local file under `src` (a file or a folder), as [absolute path, key relative to src]. */
async function localFiles(src: string): Promise<[string, string][]> {
  const st = await fsp.stat(src).catch(() => undefined);
  if (!st) throw new ProviderError('invalid', `file_mounts: source ${src} does not exist`);
  if (!st.isDirectory()) return [[src, path.basename(src)]];
  const out: [string, string][] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
      const abs = path.join(dir, e.name);
      const key = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(abs, key);
      else if (e.isFile()) out.push([abs, key]);
    }
  };
  await walk(src, '');
  return out;
}

/** How many objects go up or down at once (a cloud's latency, not bandwidth, bounds small files). */
const TRANSFERS = 8;

/** Runs `fn` on every item, at most TRANSFERS at a time; the first failure fails the whole. */
async function inPool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(TRANSFERS, items.length) }, worker));
}

/** Uploads a local file or folder into the bucket; files already there with the same size are skipped. */
export async function uploadSource(store: ObjectStore, bucket: string, src: string): Promise<number> {
  const files = await localFiles(src);
  const there = new Map((await store.list(bucket, '')).map((o) => [o.key, o.size]));
  const changed: [string, string][] = [];
  for (const [abs, key] of files) if (there.get(key) !== (await fsp.stat(abs)).size) changed.push([abs, key]);
  await inPool(changed, ([abs, key]) => store.putFile(bucket, key, abs));
  return changed.length;
}

/**
 * Before a launch: every bucket the task mounts exists, SkyRun's own are created (with the marker)
 * and `source` folders uploaded. A URI names a bucket that must exist. Says what it does on `say`.
 */
export async function prepareBuckets(mounts: BucketMount[], cluster: string, say: (m: string) => void): Promise<void> {
  for (const m of mounts) {
    const store = storeFor(m.store);
    const uri = `${store.scheme}://${m.bucket}`;
    if (!(await store.exists(m.bucket))) {
      if (!m.managed) {
        throw new ProviderError(
          'invalid',
          `file_mounts ${m.remote}: bucket ${uri} does not exist (or these credentials cannot see it)`,
        );
      }
      say(`Creating bucket ${uri} for ${m.remote}`);
      await store.create(m.bucket);
      const marker: Marker = { managed: true, persistent: m.persistent, cluster, created: Date.now() };
      await store.putText(m.bucket, MARKER, JSON.stringify(marker));
    }
    if (m.source !== undefined) {
      const src =
        m.source === '~' || m.source.startsWith('~/')
          ? path.join(os.homedir(), m.source.slice(1))
          : path.resolve(m.source);
      const sent = await uploadSource(store, m.bucket, src);
      say(`Uploaded ${sent} file(s) from ${m.source} to ${uri}`);
    }
  }
}

/** The buckets SkyRun created, in every configured store (a store that fails is named in `errors`). */
export async function listStorage(): Promise<{ rows: StorageRow[]; errors: string[] }> {
  const rows: StorageRow[] = [];
  const errors: string[] = [];
  for (const store of configuredStores()) {
    try {
      for (const name of await store.buckets()) {
        const marker = await markerOf(store, name);
        if (marker) rows.push({ ...marker, name, store: store.kind });
      }
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  rows.sort((a, b) => a.name.localeCompare(b.name));
  return { rows, errors };
}

/**
 * Deletes SkyRun's bucket `name` (with its data) wherever it is. A bucket of that name SkyRun did
 * not create is refused; no such bucket at all is an error too.
 */
export async function deleteStorage(name: string): Promise<BucketStore[]> {
  const deleted: BucketStore[] = [];
  let foreign: string | undefined;
  for (const store of configuredStores()) {
    if (!(await store.exists(name))) continue;
    if (!(await markerOf(store, name))) {
      foreign = `${store.scheme}://${name}`;
      continue;
    }
    await store.remove(name);
    deleted.push(store.kind);
  }
  if (!deleted.length && foreign) {
    throw new ProviderError(
      'invalid',
      `${foreign} was not created by SkyRun; it is not deleted (delete it with the cloud's own tools)`,
    );
  }
  if (!deleted.length) throw new ProviderError('invalid', `no storage named ${name} (skyrun storage ls lists them)`);
  return deleted;
}

/** Deletes the buckets with `persistent: false` that the launch of `cluster` created (at down). */
export async function deleteTransientStorage(cluster: string): Promise<string[]> {
  const { rows } = await listStorage();
  const gone: string[] = [];
  for (const r of rows.filter((x) => !x.persistent && x.cluster === cluster)) {
    await storeFor(r.store).remove(r.name);
    gone.push(`${storeFor(r.store).scheme}://${r.name}`);
  }
  return gone;
}

/**
 * A bucket folder (COPY) into a new local temporary folder (or file, when `prefix` names one
 * object): the caller copies it to the nodes and removes it. The marker is left out.
 */
export async function downloadBucket(
  kind: BucketStore,
  bucket: string,
  prefix: string,
): Promise<{ local: string; cleanup: () => Promise<void> }> {
  const store = storeFor(kind);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'skyrun-copy-'));
  const cleanup = () => fsp.rm(dir, { recursive: true, force: true });
  try {
    const objects = (await store.list(bucket, prefix)).filter((o) => o.key !== MARKER && !o.key.endsWith('/'));
    // a URI naming one object (gs://b/dir/file) is that file, as SkyPilot copies it
    const single = prefix !== '' && objects.some((o) => o.key === prefix);
    if (single) {
      const file = path.join(dir, path.posix.basename(prefix));
      await store.getFile(bucket, prefix, file);
      return { local: file, cleanup };
    }
    const root = path.join(dir, 'data');
    await fsp.mkdir(root);
    const base = prefix ? `${prefix}/` : '';
    // keys like ../x never leave the folder
    const inside = objects
      .filter((o) => o.key.startsWith(base))
      .map((o) => ({ key: o.key, file: path.resolve(root, o.key.slice(base.length)) }))
      .filter((o) => o.file.startsWith(root + path.sep));
    await inPool(inside, async (o) => {
      await fsp.mkdir(path.dirname(o.file), { recursive: true });
      await store.getFile(bucket, o.key, o.file);
    });
    return { local: root, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
