// The task's types: the parsed spec, one launch candidate, and the issues a
// bad task file or flag produces. Pure TypeScript, bundle-safe.

import type { AcceleratorRequest } from './accelerators';
import type { Location } from './infra';
import type { AutostopSpec, JobRecoverySpec, PortRange, Quantity } from './values';

export type { AcceleratorRequest } from './accelerators';
export type { Location } from './infra';
export type { AutostopSpec, JobRecoverySpec, PortRange, Quantity } from './values';

/** ONE launch candidate, after any_of / ordered / accelerator-list expansion. */
export interface Resources {
  infra: Location;
  accelerator?: AcceleratorRequest;
  cpus?: Quantity;
  memory?: Quantity;
  instanceType?: string;
  /** default false */
  useSpot: boolean;
  diskSizeGb?: number;
  diskTier?: 'low' | 'medium' | 'high' | 'ultra' | 'best';
  networkTier?: 'standard' | 'best';
  ports: PortRange[];
  imageId?: string | Record<string, string>;
  labels: Record<string, string>;
  autostop?: AutostopSpec;
  jobRecovery?: JobRecoverySpec;
  acceleratorArgs?: Record<string, unknown>;
  maxHourlyCost?: number;
  priority?: number;
  /** resources.volumes (extra disks), kept as written; not supported yet (see checkLaunchable). */
  volumes?: unknown;
  /** the task's Kubernetes pod settings (top-level `volumes`, `config.kubernetes.pod_config`), copied to every candidate */
  kubernetes?: KubePodSpec;
}

/** What a task asks of its Kubernetes pods besides resources (core/kube-pods.ts). */
export interface KubePodSpec {
  /** mount path -> PersistentVolumeClaim name in the context's namespace */
  volumes?: Record<string, string>;
  /** the task's `config.kubernetes.pod_config` (a partial Pod manifest) */
  podConfig?: Record<string, unknown>;
}

export interface TaskSpec {
  /** Path given to parseTask (for messages). */
  file: string;
  name?: string;
  workdir?: string | { url: string; ref?: string };
  /** default 1 */
  numNodes: number;
  /** >= 1 candidates; shared top-level resource keys are merged into each alternative. */
  candidates: Resources[];
  /** true when `ordered:` was used (try in the user's order); false = any_of (cheapest wins). */
  ordered: boolean;
  envs: Record<string, string | null>;
  secrets: Record<string, string | null>;
  /** remote path -> local path / URI, or a storage object. */
  fileMounts: Record<string, string | Record<string, unknown>>;
  setup?: string;
  run?: string;
  config?: Record<string, unknown>;
  service?: Record<string, unknown>;
  volumes?: Record<string, unknown>;
  /** fields accepted and ignored, printed once as warnings (core/task/ignored-fields.ts); absent when none */
  warnings?: TaskIssue[];
}

export interface TaskIssue {
  file: string;
  line?: number;
  column?: number;
  field: string;
  message: string;
}

/** A printed line is cut after this many characters. */
const MAX_LINE = 1000;
/** At most this many issues are printed, then a count of the rest. */
export const MAX_PRINTED_ISSUES = 20;

/** One line of text: control characters escaped (a newline in a key prints as \n), cut at MAX_LINE. */
export function oneLine(s: string): string {
  const flat = s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) =>
    c === '\n' ? '\\n' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return flat.length > MAX_LINE ? `${flat.slice(0, MAX_LINE)}… (${flat.length - MAX_LINE} more characters)` : flat;
}

/** `${file}:${line}:${column}: ${field}: ${message}` (without :line:column when unknown), on one line. */
export function formatIssue(i: TaskIssue): string {
  const where = i.line !== undefined ? `${i.file}:${i.line}:${i.column ?? 1}` : i.file;
  return oneLine(`${where}: ${i.field}: ${i.message}`);
}

/** The first MAX_PRINTED_ISSUES issues, one line each, then `... and N more problems`. */
export function formatIssues(issues: readonly TaskIssue[]): string {
  const lines = issues.slice(0, MAX_PRINTED_ISSUES).map(formatIssue);
  const rest = issues.length - lines.length;
  if (rest > 0) lines.push(`... and ${rest} more problem${rest === 1 ? '' : 's'}`);
  return lines.join('\n');
}

export class TaskValidationError extends Error {
  /** Every issue found (the message shows the first MAX_PRINTED_ISSUES). */
  readonly issues: TaskIssue[];
  constructor(issues: TaskIssue[]) {
    super(formatIssues(issues));
    this.name = 'TaskValidationError';
    this.issues = issues;
    Object.setPrototypeOf(this, TaskValidationError.prototype);
  }
}

// ---------------------------------------------------------------------------
// Names

/** Cluster, job and task names: one rule, in core/names.ts. */
export { NAME_RE as CLUSTER_NAME_RE, validateName } from '../names';
export const ENV_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
