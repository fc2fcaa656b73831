// SkyPilot task fields SkyRun accepts (with SkyPilot's types) but does not act on yet: each is
// reported once, as a warning naming the field and why, never as an invalid-input error. The
// table is the single list of them (README's Task YAML section and test/task/schema-parity.test.ts
// follow it). Pure TypeScript, bundle-safe.

import type { Ctx, Entry } from './yaml';

/**
 * Field path (`*` for a mount path or a list index) -> why SkyRun ignores it. Paths are those of
 * SkyPilot's task and resources schemas (sky/utils/schemas.py); fields starting with `_` are
 * SkyPilot's internal ones, accepted because SkyPilot's own dumps of a task carry them.
 */
export const IGNORED_FIELDS: Readonly<Record<string, string>> = {
  event_callback: 'SkyRun runs no callback when a job changes state',
  inputs: "SkyPilot's optimizer prices the egress of inputs; SkyRun's does not price data transfer",
  outputs: "SkyPilot's optimizer prices the egress of outputs; SkyRun's does not price data transfer",
  pool: 'worker pools (sky jobs pool) are not supported; the task is launched as a plain task',
  file_mounts_mapping: "SkyPilot's client fills it in for its API server; SkyRun copies file_mounts itself",
  volume_mounts: "SkyPilot's resolved form of volumes; give volumes instead",
  api_server_access: 'SkyRun has no API server for jobs to reach',
  _metadata: "SkyPilot's internal metadata",
  'managed_secrets.*.mount_path': 'secrets reach the job as environment variables only',
  'resources.local_disk': 'instance-store disks are not chosen by SkyRun yet; the instance type decides',
  'resources.ephemeral_storage': "a Kubernetes pod's ephemeral-storage request is not set yet (deprecated in SkyPilot)",
  'resources.priority_class': 'Kubernetes priority classes (Kueue) are not set on pods yet',
  'resources.accelerator_args': 'TPU settings; SkyRun offers no TPUs',
  'resources.autostop.wait_for': "SkyRun's idle timer counts jobs only",
  'resources.autostop.hook': 'autostop hooks are not run yet',
  'resources.autostop.hook_timeout': 'autostop hooks are not run yet',
  'resources.job_recovery.*':
    "a plugin's recovery field; SkyRun knows strategy, max_restarts_on_errors and recover_on_exit_codes",
  'resources._no_missing_accel_warnings': "SkyPilot's internal field",
  'resources._docker_login_config':
    "SkyPilot's internal field (SkyRun reads registry credentials from SKYPILOT_DOCKER_* envs)",
  'resources._is_image_managed': "SkyPilot's internal field",
  'resources._requires_fuse': "SkyPilot's internal field",
  'resources._cluster_config_overrides': "SkyPilot's internal field; use the task's config:",
  'file_mounts.*.mount_options': 'rclone mount options are fixed by SkyRun',
  'file_mounts.*.type': "SkyPilot's internal mount type",
  'file_mounts.*.config': 'per-store mount settings (mount_cached, mount) are fixed by SkyRun',
  'file_mounts.*._is_sky_managed': "SkyPilot's internal field",
};

/** The IGNORED_FIELDS key a concrete field path matches (`file_mounts./data.type` -> `file_mounts.*.type`). */
export function ignoredKey(field: string): string | undefined {
  if (Object.prototype.hasOwnProperty.call(IGNORED_FIELDS, field)) return field;
  return Object.keys(IGNORED_FIELDS).find((k) => {
    if (!k.includes('*')) return false;
    const [head, tail] = k.split('*');
    return field.startsWith(head) && field.endsWith(tail) && field.length > head.length + tail.length;
  });
}

/** Records that `e` is accepted and ignored: one warning naming the field and the reason. */
export function warnIgnored(ctx: Ctx, e: Pick<Entry, 'field' | 'keyNode'>, key = ignoredKey(e.field)): void {
  const reason = key ? IGNORED_FIELDS[key] : 'SkyRun does not act on it';
  ctx.warn(e.keyNode, e.field, `accepted and ignored: ${reason}`);
}
