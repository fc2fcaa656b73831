// Env values in a task: `${VAR}` references in workdir and file_mounts, and
// secret values redacted from output.

import type { TaskSpec } from './types';
import { copyPositions } from './yaml';

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

/**
 * As SkyPilot does, substitutes the task's envs (not secrets) into workdir and
 * file_mounts (remote paths, local paths/URIs, and storage name/source). Call
 * it after applyOverrides so --env values are used. Returns a new spec.
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
  for (const [remote, src] of Object.entries(task.fileMounts)) {
    if (typeof src === 'string') {
      out.fileMounts[sub(remote)] = sub(src);
    } else {
      const obj: Record<string, unknown> = { ...src };
      if (typeof obj.name === 'string') obj.name = sub(obj.name);
      if (typeof obj.source === 'string') obj.source = sub(obj.source);
      else if (Array.isArray(obj.source)) obj.source = obj.source.map((x) => (typeof x === 'string' ? sub(x) : x));
      out.fileMounts[sub(remote)] = obj;
    }
  }
  copyPositions(task, out);
  return out;
}
