// Env values in a task: `${VAR}` references in workdir, file_mounts, volumes and service, and
// secret values redacted from output.

import type { TaskSpec } from './types';
import { copyPositions } from './yaml';
import { volumeIssues } from '../kube-pods';

/** Replaces every non-empty secret value of the task found in `text` with <redacted>. */
export function redactSecrets(text: string, task: TaskSpec): string {
  const values = Object.values(task.secrets)
    .filter((v): v is string => typeof v === 'string' && v.length > 0)
    .sort((a, b) => b.length - a.length);
  let out = text;
  for (const v of values) out = out.split(v).join('<redacted>');
  return out;
}

/**
 * Replaces `${VAR}` and `$VAR` in `text` by the task env's value, for envs that
 * have a value; other references are left as written.
 */
export function expandEnvRefs(text: string, envs: Record<string, string | null>): string {
  return text.replace(
    /\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}|\$([a-zA-Z_][a-zA-Z0-9_]*)/g,
    (whole, braced?: string, bare?: string) => {
      const name = braced ?? bare ?? '';
      const v = Object.prototype.hasOwnProperty.call(envs, name) ? envs[name] : null;
      return typeof v === 'string' ? v : whole;
    },
  );
}

/** Every string in `v` (mapping keys and values, list items, nested) with `sub` applied. */
function subDeep(v: unknown, sub: (s: string) => string): unknown {
  if (typeof v === 'string') return sub(v);
  if (Array.isArray(v)) return v.map((x) => subDeep(x, sub));
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [sub(k), subDeep(x, sub)]));
  return v;
}

/**
 * As SkyPilot does, substitutes the task's envs (not secrets) into workdir, file_mounts (remote
 * paths, local paths/URIs, and every field of a storage object), volumes and service. Call it after
 * applyOverrides so --env values are used. Returns a new spec.
 */
export function substituteEnvs(task: TaskSpec): TaskSpec {
  const sub = (s: string): string => expandEnvRefs(s, task.envs);
  const out: TaskSpec = { ...task, fileMounts: {} };
  if (typeof task.workdir === 'string') out.workdir = sub(task.workdir);
  else if (task.workdir)
    out.workdir =
      task.workdir.ref === undefined
        ? { url: sub(task.workdir.url) }
        : { url: sub(task.workdir.url), ref: sub(task.workdir.ref) };
  for (const [remote, src] of Object.entries(task.fileMounts))
    out.fileMounts[sub(remote)] = subDeep(src, sub) as string | Record<string, unknown>;
  if (task.volumes) {
    out.volumes = subDeep(task.volumes, sub) as Record<string, unknown>;
    // the candidates carry the volumes to the pods (as parseTask does, once they are well-formed)
    const volumes = volumeIssues(out.volumes).length ? undefined : (out.volumes as Record<string, string>);
    out.candidates = task.candidates.map((r) => ({ ...r, kubernetes: { ...r.kubernetes, volumes } }));
  }
  if (task.service) out.service = subDeep(task.service, sub) as Record<string, unknown>;
  copyPositions(task, out);
  return out;
}
