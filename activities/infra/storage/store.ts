/**
 * One small interface over an object store's bucket API (S3 in s3.ts, GCS in gcs.ts): what
 * storage needs to create, fill, read, list and delete buckets, and the rclone remote a node
 * mounts a bucket through.
 */
import { ProviderError } from '../../../core/errors';
import type { BucketStore } from '../../../core/task/storage';

export interface ObjectInfo {
  key: string;
  size: number;
}

export interface ObjectStore {
  readonly kind: BucketStore;
  /** the URI scheme users write (s3, gs) */
  readonly scheme: string;
  exists(bucket: string): Promise<boolean>;
  /** Creates the bucket; an existing one of ours is no error. */
  create(bucket: string): Promise<void>;
  /** Every bucket the credentials can see. */
  buckets(): Promise<string[]>;
  list(bucket: string, prefix: string): Promise<ObjectInfo[]>;
  putFile(bucket: string, key: string, file: string): Promise<void>;
  putText(bucket: string, key: string, text: string): Promise<void>;
  /** An object's text; undefined when it does not exist. */
  getText(bucket: string, key: string): Promise<string | undefined>;
  getFile(bucket: string, key: string, file: string): Promise<void>;
  /** Deletes every object, then the bucket; a missing bucket is no error. */
  remove(bucket: string): Promise<void>;
  /**
   * The rclone remote section (`[name]` and its options) reaching this store with this
   * process's credentials. It holds secrets: it goes to a node only as a 0600 file, over stdin.
   */
  rcloneRemote(name: string): Promise<string>;
}

/** `call(what, fn)`: fn's SDK errors go through the store's `fail` (ProviderErrors pass as they are). */
export function callWith(fail: (what: string, e: unknown) => never) {
  return async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ProviderError) throw e;
      fail(what, e);
    }
  };
}
