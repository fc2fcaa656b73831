// Buckets in file_mounts: `s3://` / `gs://` URIs and storage objects {name, source, store, mode,
// persistent}, as SkyPilot defines them (its sky/data/storage.py), turned into BucketMounts: what
// to create and upload before the launch, and what each node gets (a copy, or a FUSE mount).
//
// A bucket mount travels to the workers inside the job's `fileMounts` map (remote path -> value)
// as an encoded string (encodeBucketMount), so the workflows carry it like a local path.

import type { TaskSpec } from './types';
import { STORAGE_MODES } from './fields';

/** The stores SkyRun can read and write; the others are accepted by the parser and refused at launch. */
export const SUPPORTED_STORES = ['s3', 'gcs'] as const;
export type BucketStore = (typeof SUPPORTED_STORES)[number];
export type StorageMode = 'MOUNT' | 'COPY' | 'MOUNT_CACHED';

/** The URI scheme of each store (SkyPilot's). */
const SCHEMES: Record<string, string> = {
  s3: 's3',
  gs: 'gcs',
  r2: 'r2',
  cos: 'ibm',
  oci: 'oci',
  nebius: 'nebius',
  cw: 'coreweave',
  https: 'azure',
};

export interface BucketMount {
  /** where it lands on the node (`~/...` or an absolute path) */
  remote: string;
  store: BucketStore;
  bucket: string;
  /** a folder inside the bucket ('' = the whole bucket), without leading or trailing '/' */
  prefix: string;
  mode: StorageMode;
  /** a local folder or file to upload into the bucket before the launch (storage objects only) */
  source?: string;
  /** a storage object whose bucket SkyRun creates (and labels as its own) when it does not exist */
  managed: boolean;
  /** false: a bucket SkyRun created is deleted when the cluster goes down */
  persistent: boolean;
}

const BUCKET_MOUNT_TAG = 'skyrun-bucket:';

/** A bucket URI's store, bucket and prefix; undefined for anything that is not `scheme://...`. */
export function parseBucketUri(uri: string): { store: string; bucket: string; prefix: string } | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)\/?(.*)$/i.exec(uri.trim());
  if (!m) return undefined;
  const store = SCHEMES[m[1]!.toLowerCase()] ?? m[1]!.toLowerCase();
  return { store, bucket: m[2]!, prefix: m[3]!.replace(/\/+$/, '') };
}

export const isBucketUri = (s: string): boolean => parseBucketUri(s) !== undefined;

/** S3's bucket-name rule (3-63 of a-z 0-9 . -, starting and ending alphanumeric); GCS also takes '_'. */
export function badBucketName(name: string, store: string): string | undefined {
  const re = store === 'gcs' ? /^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/ : /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
  if (re.test(name) && !name.includes('..')) return undefined;
  const chars = store === 'gcs' ? "'.', '-' or '_'" : "'.' or '-'";
  return `${JSON.stringify(name)} is not a valid ${store === 'gcs' ? 'GCS' : 'S3'} bucket name; expected 3-63 lowercase letters, digits, ${chars}, starting and ending with a letter or digit`;
}

/** The bucket a storage object without a name gets: skyrun-<task name>-<8 hex of its remote path>. */
function generatedName(task: TaskSpec, remote: string): string {
  let h = 0x811c9dc5;
  for (const ch of `${task.name ?? ''}\0${remote}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  const base = (task.name ?? 'task').toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  return `skyrun-${base.slice(0, 40)}-${h.toString(16).padStart(8, '0')}`.replace(/-+/g, '-');
}

/** The store a storage object without `store` (and without a URI source) uses: the task's cloud's. */
function defaultStore(task: TaskSpec): string {
  const clouds = new Set(task.candidates.map((r) => r.infra.cloud));
  return clouds.has('gcp') && !clouds.has('aws') ? 'gcs' : 's3';
}

export type StorageIssue = { field: string; message: string };

/**
 * The bucket mounts of a task's file_mounts, with what refuses them at launch (stores and forms
 * not supported yet, a name given with a URI source, an invalid bucket name). Local paths are
 * left out (not a bucket).
 */
export function bucketMounts(task: TaskSpec): { mounts: BucketMount[]; issues: StorageIssue[] } {
  const mounts: BucketMount[] = [];
  const issues: StorageIssue[] = [];
  for (const [remote, src] of Object.entries(task.fileMounts)) {
    const field = `file_mounts.${remote}`;
    const bad = (message: string) => issues.push({ field, message });
    if (typeof src === 'string') {
      const uri = parseBucketUri(src);
      if (!uri) continue;
      const m = uriMount(remote, uri, 'COPY', bad);
      if (m) mounts.push(m);
      continue;
    }
    const m = objectMount(task, remote, src, bad);
    if (m) mounts.push(m);
  }
  return { mounts, issues };
}

function uriMount(
  remote: string,
  uri: { store: string; bucket: string; prefix: string },
  mode: StorageMode,
  bad: (m: string) => void,
): BucketMount | undefined {
  if (!supported(uri.store, bad)) return undefined;
  const name = badBucketName(uri.bucket, uri.store);
  if (name) return void bad(name);
  const store = uri.store as BucketStore;
  return { remote, store, bucket: uri.bucket, prefix: uri.prefix, mode, managed: false, persistent: true };
}

function supported(store: string, bad: (m: string) => void): boolean {
  if ((SUPPORTED_STORES as readonly string[]).includes(store)) return true;
  bad(
    `${store} buckets are not supported yet (SkyRun supports ${SUPPORTED_STORES.join(' and ')}: s3://, gs://); copy the data to an S3 or GCS bucket, or fetch it in setup`,
  );
  return false;
}

function objectMount(
  task: TaskSpec,
  remote: string,
  obj: Record<string, unknown>,
  bad: (m: string) => void,
): BucketMount | undefined {
  // an env reference (`mode: $MODE`) is checked once substituted: any case, as SkyPilot
  const mode = ((obj.mode as string | undefined)?.toUpperCase() ?? 'MOUNT') as StorageMode;
  if (!(STORAGE_MODES as readonly string[]).includes(mode))
    return void bad(`unknown storage mode '${String(obj.mode)}'; expected one of ${STORAGE_MODES.join(', ')}`);
  const persistent = obj.persistent !== false;
  const name = typeof obj.name === 'string' ? obj.name.trim() : undefined;
  if (Array.isArray(obj.source)) {
    return void bad('a list of sources is not supported yet; give one local folder or one bucket URI as source');
  }
  const source = typeof obj.source === 'string' ? obj.source.trim() : undefined;
  const uri = source !== undefined ? parseBucketUri(source) : undefined;
  if (uri) {
    if (name !== undefined) {
      return void bad('name cannot be given with a bucket URI as source (the URI names the bucket); remove name');
    }
    if (obj.store !== undefined && String(obj.store).toLowerCase() !== uri.store) {
      return void bad(`store ${String(obj.store)} does not match the source URI's store (${uri.store})`);
    }
    const m = uriMount(remote, uri, mode, bad);
    return m && { ...m, persistent };
  }
  const store = (obj.store as string | undefined)?.toLowerCase() ?? defaultStore(task);
  if (!supported(store, bad)) return undefined;
  const bucket = name ?? generatedName(task, remote);
  const invalid = badBucketName(bucket, store);
  if (invalid) return void bad(invalid);
  return {
    remote,
    store: store as BucketStore,
    bucket,
    prefix: '',
    mode,
    ...(source !== undefined ? { source } : {}),
    managed: true,
    persistent,
  };
}

/** A bucket mount as a job's fileMounts value (what the workers decode). */
export function encodeBucketMount(m: BucketMount): string {
  const { store, bucket, prefix, mode } = m;
  return BUCKET_MOUNT_TAG + JSON.stringify({ store, bucket, prefix, mode });
}

/** The bucket mount a job's fileMounts value encodes; undefined for a local path. */
export function decodeBucketMount(
  remote: string,
  value: string,
): Pick<BucketMount, 'remote' | 'store' | 'bucket' | 'prefix' | 'mode'> | undefined {
  if (!value.startsWith(BUCKET_MOUNT_TAG)) return undefined;
  const v = JSON.parse(value.slice(BUCKET_MOUNT_TAG.length)) as Omit<BucketMount, 'remote'>;
  return { remote, store: v.store, bucket: v.bucket, prefix: v.prefix, mode: v.mode };
}

/** The labels (GCS) or tags (S3) on a bucket SkyRun created: how `storage ls` finds it, statelessly. */
export const MANAGED_LABEL = 'skyrun-managed';
export const PERSISTENT_LABEL = 'skyrun-persistent';
export const CLUSTER_LABEL = 'skyrun-cluster';

export function managedLabels(m: BucketMount, cluster: string): Record<string, string> {
  return {
    [MANAGED_LABEL]: 'true',
    [PERSISTENT_LABEL]: String(m.persistent),
    // GCS label values: lowercase letters, digits, '-' and '_', at most 63
    [CLUSTER_LABEL]: cluster
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, '-')
      .slice(0, 63),
  };
}
