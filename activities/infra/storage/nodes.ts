/**
 * Bucket file_mounts onto a cluster's nodes, before setup (the sync activity). COPY: this worker
 * downloads the bucket folder once, then pushes it to every node over the runner's own file copy
 * (runners/file-sync.ts), so a node needs no cloud credentials and no cloud CLI. MOUNT and
 * MOUNT_CACHED: each node mounts the bucket with rclone (runners/bucket-mount.ts), with the
 * credentials sent as a 0600 config file over stdin.
 */
import { createHash } from 'node:crypto';
import { ProviderError } from '../../../core/errors';
import type { BucketMount } from '../../../core/task/storage';
import type { Runner } from '../runners/runner';
import { downloadBucket, storeFor } from './index';

type Mount = Pick<BucketMount, 'remote' | 'store' | 'bucket' | 'prefix' | 'mode'>;

/** `mounts` onto every runner (rank order); a COPY is downloaded once for all of them. */
export async function bucketsToNodes(mounts: Mount[], runners: Runner[]): Promise<void> {
  for (const m of mounts) {
    if (m.mode === 'COPY') {
      const { local, cleanup } = await downloadBucket(m.store, m.bucket, m.prefix);
      try {
        await Promise.all(runners.map((r) => r.syncPath(local, m.remote)));
      } finally {
        await cleanup();
      }
      continue;
    }
    const store = storeFor(m.store);
    const config = await store.rcloneRemote('skyrun');
    const id = createHash('sha256').update(m.remote).digest('hex').slice(0, 16);
    const path = m.prefix ? `${m.bucket}/${m.prefix}` : m.bucket;
    await Promise.all(
      runners.map((r) => {
        if (!r.mountBucket) {
          throw new ProviderError(
            'invalid',
            `file_mounts ${m.remote}: mode ${m.mode} is not supported on local nodes (local and sim infra) yet; use mode: COPY, or ssh/cloud infra`,
          );
        }
        return r.mountBucket({ remote: m.remote, path, cached: m.mode === 'MOUNT_CACHED', config, id });
      }),
    );
  }
}
