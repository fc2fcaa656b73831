// Launch checks: what refuses the launch of an otherwise valid task (unset
// required envs and secrets, features not supported yet, and what could never run: NUL bytes, an environment the OS refuses, a missing
// workdir).

import { CONTAINER_INFRA, badDockerImage, dockerImage, imagesOf, runsContainers } from '../docker';
import { podConfigIssues, taskPodConfig, volumeIssues } from '../kube-pods';
import { stableKey } from './resource-fields';
import type { Resources, TaskIssue, TaskSpec } from './types';
import { bucketMounts, isBucketUri } from './storage';
import { positionsOf } from './yaml';

/**
 * The largest `NAME=VALUE` of one env or secret, in bytes. Linux refuses to exec a process with
 * any single argument or environment string longer than MAX_ARG_STRLEN (32 pages: 131072 bytes,
 * its terminating NUL included), with E2BIG.
 */
export const MAX_ENV_ENTRY_BYTES = 128 * 1024 - 1;
/**
 * The most bytes all of a task's envs and secrets may take together (`NAME=VALUE` and a NUL each).
 * Linux's ARG_MAX (a quarter of the stack limit: 2 MiB by default) holds argv and the whole
 * environment; half of it leaves room for the inherited env (PATH, HOME, ...), SkyRun's own
 * SKYPILOT_* variables and the command line.
 */
export const MAX_ENV_TOTAL_BYTES = 1024 * 1024;

/** What a local path is on the machine that launches (relative paths from its working directory). */
export type PathKind = (path: string) => 'dir' | 'file' | 'missing';

const utf8Bytes = (s: string): number => new TextEncoder().encode(s).length;

/**
 * Problems that refuse a launch of an otherwise valid task (unset required envs
 * and secrets, features not supported yet). Empty = launchable. A task with neither run nor
 * setup is launchable: it provisions the cluster only (SkyPilot's behaviour, see hasWork).
 * job_recovery on a non-managed launch is ignored without an issue.
 */
export function checkLaunchable(task: TaskSpec, opts: { managed?: boolean; pathKind?: PathKind }): TaskIssue[] {
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
  for (const i of bucketMounts(task).issues) add(i.field, i.message);
  checkKubePods(task, add);
  for (const r of task.candidates) {
    checkDockerImages(r, add);
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
  if (opts.managed && !hasWork(task)) {
    add(
      'run',
      'a managed job needs something to run: add run: <command> (skyrun launch provisions a cluster without it)',
    );
  }
  checkNeverRuns(task, opts.pathKind, add);
  return issues;
}

/** Whether the task has anything to run: without run and setup, a launch only provisions. */
export function hasWork(task: Pick<TaskSpec, 'run' | 'setup'>): boolean {
  return (task.run ?? '').trim() !== '' || (task.setup ?? '').trim() !== '';
}

/**
 * `image_id: docker:<image>` names an image, and the candidate's infra (when it names one) can run
 * containers; without `infra`, the optimizer leaves out the offers that cannot.
 */
function checkDockerImages(r: Resources, add: (field: string, message: string, posField?: string) => void): void {
  const field = 'resources.image_id';
  const images = imagesOf(r)
    .map(dockerImage)
    .filter((i): i is string => i !== undefined);
  for (const image of images) {
    const bad = badDockerImage(image);
    if (bad) add(field, bad, field);
  }
  const cloud = r.infra.cloud;
  if (images.length && cloud !== undefined && !runsContainers(cloud)) {
    const why =
      cloud === 'local' || cloud === 'sim'
        ? `${cloud} infra runs tasks as processes of this machine, not in containers`
        : `SkyRun cannot run containers on ${cloud}`;
    add(
      field,
      `docker images (image_id: docker:...) need infra that runs containers (${CONTAINER_INFRA.join(', ')}); ${why}. Pick one of those with infra:, or drop the docker image and install what you need in setup`,
      field,
    );
  }
}

/**
 * `volumes` (existing PersistentVolumeClaims) mount on Kubernetes only: a candidate that names
 * other infra is refused; without `infra`, the optimizer offers only Kubernetes. A task-level
 * `config.kubernetes.pod_config` must be a partial Pod manifest.
 */
function checkKubePods(task: TaskSpec, add: (field: string, message: string, posField?: string) => void): void {
  const podConfig = taskPodConfig(task.config);
  if (podConfig !== undefined)
    for (const m of podConfigIssues(podConfig, 'config.kubernetes.pod_config')) add('config', m);
  if (task.volumes === undefined) return;
  for (const i of volumeIssues(task.volumes))
    add(i.field, i.message, positionsOf(task)?.has(i.field) ? i.field : 'volumes');
  const other = [
    ...new Set(task.candidates.map((r) => r.infra.cloud).filter((c) => c !== undefined && c !== 'kubernetes')),
  ];
  if (other.length) {
    add(
      'volumes',
      `volumes are PersistentVolumeClaims mounted on Kubernetes only; this task asks for ${other.join(', ')} infra. Use infra: k8s (or leave infra out), or remove volumes and copy the data in setup or file_mounts`,
    );
  }
}

/**
 * What no retry could ever run, refused before anything starts: NUL bytes (no process can receive
 * them), envs and secrets larger than the OS lets a process have, a workdir or file_mounts source
 * that is not there. Messages never quote a value (it may be a secret).
 */
function checkNeverRuns(
  task: TaskSpec,
  pathKind: PathKind | undefined,
  add: (field: string, message: string, posField?: string) => void,
): void {
  const nul = (field: string, value: string | undefined | null): void => {
    if (typeof value === 'string' && value.includes('\0')) {
      add(field, 'contains a NUL byte, which no process can receive; expected text without NUL (\\0) characters');
    }
  };
  nul('name', task.name);
  nul('run', task.run);
  nul('setup', task.setup);
  if (typeof task.workdir === 'string') nul('workdir', task.workdir);
  for (const [remote, src] of Object.entries(task.fileMounts)) {
    nul(`file_mounts.${remote}`, remote);
    if (typeof src === 'string') nul(`file_mounts.${remote}`, src);
  }
  let total = 0;
  for (const kind of ['envs', 'secrets'] as const) {
    for (const [name, value] of Object.entries(task[kind])) {
      const field = `${kind}.${name}`;
      nul(field, name);
      if (typeof value !== 'string') continue;
      nul(field, value);
      const bytes = utf8Bytes(name) + 1 + utf8Bytes(value);
      total += bytes + 1;
      if (bytes > MAX_ENV_ENTRY_BYTES) {
        add(
          field,
          `${name}=VALUE takes ${bytes} bytes; expected at most ${MAX_ENV_ENTRY_BYTES} (the OS refuses longer environment strings); put large data in a file (workdir or file_mounts) instead`,
        );
      }
    }
  }
  if (total > MAX_ENV_TOTAL_BYTES) {
    add(
      'envs',
      `envs and secrets take ${total} bytes together; expected at most ${MAX_ENV_TOTAL_BYTES} (the OS limits a process's whole environment); put large data in a file (workdir or file_mounts) instead`,
    );
  }
  if (!pathKind) return;
  if (typeof task.workdir === 'string' && !task.workdir.includes('\0')) {
    const kind = pathKind(task.workdir);
    if (kind !== 'dir') {
      add('workdir', `${task.workdir} ${kind === 'missing' ? 'does not exist' : 'is a file'}; expected a local folder`);
    }
  }
  for (const [remote, src] of Object.entries(task.fileMounts)) {
    const local = typeof src === 'string' ? src : typeof src.source === 'string' ? src.source : undefined;
    if (local === undefined || isBucketUri(local) || local.includes('\0')) continue;
    if (pathKind(local) === 'missing') {
      add(`file_mounts.${remote}`, `${local} does not exist; expected a local file or folder`);
    }
  }
}
