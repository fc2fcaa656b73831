// Launch checks: what refuses the launch of an otherwise valid task (unset
// required envs and secrets, features not supported yet, nothing to run).

import { stableKey } from './resource-fields';
import type { TaskIssue, TaskSpec } from './types';
import { positionsOf } from './yaml';

const URI_RE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;

/**
 * Problems that refuse a launch of an otherwise valid task (unset required envs
 * and secrets, features not supported yet, nothing to run). Empty = launchable.
 * job_recovery on a non-managed launch is ignored without an issue.
 */
export function checkLaunchable(task: TaskSpec, opts: { managed?: boolean }): TaskIssue[] {
  const positions = positionsOf(task);
  const issues: TaskIssue[] = [];
  const add = (field: string, message: string, posField = field): void => {
    if (issues.some((i) => i.field === field && i.message === message)) return;
    const p = positions?.get(posField);
    issues.push(
      p ? { file: task.file, line: p.line, column: p.column, field, message } : { file: task.file, field, message },
    );
  };

  for (const [name, value] of Object.entries(task.envs)) {
    if (value === null) add(`envs.${name}`, `${name} has no value; it must be given with --env ${name}=VALUE`);
  }
  for (const [name, value] of Object.entries(task.secrets)) {
    if (value === null) add(`secrets.${name}`, `${name} has no value; it must be given with --secret ${name}=VALUE`);
  }
  if (task.service !== undefined) {
    add('service', 'SkyServe services are not supported yet; use skyrun launch without service');
  }
  for (const [remote, src] of Object.entries(task.fileMounts)) {
    const field = `file_mounts.${remote}`;
    if (typeof src !== 'string') {
      add(
        field,
        'storage objects (buckets) in file_mounts are not supported yet; use a local path, or fetch the data in setup',
      );
    } else if (URI_RE.test(src.trim())) {
      add(
        field,
        `cloud URIs (${src.trim().split('://')[0]}://) in file_mounts are not supported yet (buckets are not supported yet); use a local path, or fetch the data in setup`,
      );
    }
  }
  if (task.workdir !== undefined && typeof task.workdir !== 'string') {
    add(
      'workdir',
      'git workdirs ({url, ref}) are not supported yet; use a local directory or clone the repository in setup',
    );
  }
  if (task.volumes !== undefined) {
    add('volumes', 'volumes are not supported yet; remove volumes from the task');
  }
  for (const r of task.candidates) {
    const images =
      r.imageId === undefined ? [] : typeof r.imageId === 'string' ? [r.imageId] : Object.values(r.imageId);
    if (images.some((i) => i.trim().toLowerCase().startsWith('docker:'))) {
      add(
        'resources.image_id',
        'docker images (image_id: docker:...) are not supported yet; use a VM image or install what you need in setup',
        'resources.image_id',
      );
    }
    if (r.volumes !== undefined) {
      add('resources.volumes', 'resources.volumes (extra disks) are not supported yet; remove them from the task');
    }
  }
  if (opts.managed && task.candidates.length > 1) {
    const first = stableKey(task.candidates[0].jobRecovery ?? null);
    if (task.candidates.some((r) => stableKey(r.jobRecovery ?? null) !== first)) {
      add(
        'resources.job_recovery',
        'managed jobs need the same job_recovery in every resources alternative; move it to the shared resources fields',
      );
    }
  }
  if ((task.run === undefined || task.run.trim() === '') && (task.setup === undefined || task.setup.trim() === '')) {
    add('run', 'nothing to run: the task has neither run nor setup; add run: <command>');
  }
  return issues;
}
