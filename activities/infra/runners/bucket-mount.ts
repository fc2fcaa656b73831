/**
 * Mounting a bucket on a node with rclone (FUSE), the same way over SSH and Kubernetes exec.
 * MOUNT streams (`--vfs-cache-mode off`: close-to-open, no random writes, as SkyPilot's MOUNT);
 * MOUNT_CACHED keeps a local cache and writes back asynchronously (`--vfs-cache-mode full
 * --vfs-write-back 1s --vfs-cache-max-size 10G`, SkyPilot's rclone flags for MOUNT_CACHED).
 * The rclone remote (with the credentials) reaches the node only over stdin, into a 0600 file
 * under ~/.skyrun/mounts that is removed once rclone has mounted; argv carries paths and names only. Every mount point is listed in
 * ~/.skyrun/mounts/list, and UNMOUNT_ALL (teardown) unmounts them.
 */
import { ProviderError } from '../../../core/errors';
import type { RunScript } from './file-sync';
import type { NodeMount } from './runner';

export type { NodeMount };

/**
 * $1 mount point, $2 bucket path, $3 MOUNT|MOUNT_CACHED, $4 id; stdin: the rclone config. The FUSE
 * device is /dev/fuse unless the node's SKYRUN_FUSE_DEVICE names another (tests: a node without).
 */
export const MOUNT = `
dev="\${SKYRUN_FUSE_DEVICE:-/dev/fuse}"
dst="$1"; case "$dst" in "~") dst="$HOME";; "~/"*) dst="$HOME/\${dst#\\~/}";; esac
command -v rclone >/dev/null 2>&1 || { echo "skyrun-mount: no-rclone"; exit 0; }
[ -c "$dev" ] || { echo "skyrun-mount: no-fuse"; exit 0; }
command -v fusermount3 >/dev/null 2>&1 || command -v fusermount >/dev/null 2>&1 || { echo "skyrun-mount: no-fusermount"; exit 0; }
if grep -qs " $dst fuse" /proc/mounts; then cat >/dev/null; echo "skyrun-mount: adopted"; exit 0; fi
m="$HOME/.skyrun/mounts"; mkdir -p "$m" "$dst" || exit 1
conf="$m/$4.conf"
(umask 077; cat > "$conf") || exit 1
if [ "$3" = MOUNT_CACHED ]; then
  set -- "$@" --vfs-cache-mode full --vfs-write-back 1s --vfs-cache-max-size 10G --cache-dir "$m/$4.cache"
else
  set -- "$@" --vfs-cache-mode off
fi
grep -qxF -- "$dst" "$m/list" 2>/dev/null || printf '%s\\n' "$dst" >> "$m/list"
out=$(rclone mount --config "$conf" "skyrun:$2" "$dst" --daemon --daemon-wait 30s --dir-cache-time 5s "\${@:5}" 2>&1)
c=$?
rm -f "$conf"  # read by the running mount already: no credentials stay on disk
if [ $c -ne 0 ]; then echo "skyrun-mount: failed: $(printf '%s' "$out" | tail -n 1)"; exit 0; fi
echo "skyrun-mount: mounted"
`;

/** Unmounts what MOUNT mounted on the node (teardown); idempotent, never fails. */
export const UNMOUNT_ALL = `
m="$HOME/.skyrun/mounts"; [ -f "$m/list" ] || exit 0
u=fusermount3; command -v fusermount3 >/dev/null 2>&1 || u=fusermount
while IFS= read -r d; do
  [ -n "$d" ] && grep -qs " $d fuse" /proc/mounts && { $u -u "$d" 2>/dev/null || $u -uz "$d" 2>/dev/null; }
done < "$m/list"
rm -rf "$m/list" "$m"/*.conf "$m"/*.cache
exit 0
`;

/** Mounts `m` on the node, or says clearly why it cannot (no FUSE device, no rclone). */
export async function mountBucket(m: NodeMount, where: string, run: RunScript): Promise<void> {
  const mode = m.cached ? 'MOUNT_CACHED' : 'MOUNT';
  const out = (
    await run('mounting a bucket', MOUNT, [m.remote, m.path, mode, m.id], {
      stdin: Buffer.from(m.config),
      timeoutMs: 90_000,
    })
  ).toString();
  const word = /skyrun-mount: (.*)/.exec(out)?.[1]?.trim() ?? 'no answer';
  if (word === 'mounted' || word === 'adopted') return;
  const need = `mode ${mode} mounts the bucket with FUSE (rclone mount), which needs`;
  const fix = 'use mode: COPY for this file_mounts entry, or infra whose nodes have FUSE';
  const why =
    word === 'no-fuse'
      ? `${need} the FUSE device (/dev/fuse) on the node; ${where} has none (a container without --device /dev/fuse, or a kernel without FUSE)`
      : word === 'no-rclone'
        ? `${need} rclone on the node; ${where} has none (install it: apt-get install rclone fuse3)`
        : word === 'no-fusermount'
          ? `${need} fusermount on the node; ${where} has none (install it: apt-get install fuse3)`
          : `rclone could not mount ${m.path} at ${m.remote} on ${where}: ${word.replace(/^failed: /, '')}`;
  throw new ProviderError('invalid', `file_mounts ${m.remote}: ${why}; ${fix}`);
}
