/**
 * Names, one rule for every entry point (CLI, typed client, workflows, activities, providers).
 *
 * - A name users give (cluster, task, managed job): a letter first, a letter or digit last,
 *   letters, digits and `-_.` inside, at most NAME_MAX characters.
 * - A cluster name as the infra sees it: a user's cluster name, or a managed job's own cluster,
 *   `<job id>-<job name>`. Its leading digit puts it in a name space users cannot type, so a
 *   managed job's cluster never meets a cluster of the user's. At most CLUSTER_NAME_MAX: what
 *   every provider holds (GCP and Kubernetes names and label values: 63).
 */

export const NAME_MAX = 48;
export const CLUSTER_NAME_MAX = 63;

export const NAME_RE = /^[a-zA-Z]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const CLUSTER_RE = /^[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$/;

function shown(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 77)}...` : name);
}

/** undefined when `name` is a valid name users may give, else what was expected. */
export function validateName(name: string): string | undefined {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    return `expected a name of letters, digits, '-', '_' and '.' that starts with a letter and ends with a letter or digit, got ${shown(String(name))}`;
  }
  if (name.length > NAME_MAX) return `expected a name of at most ${NAME_MAX} characters, got ${name.length}`;
  return undefined;
}

/** undefined when `name` is a cluster name any provider can hold (users' or managed jobs'). */
export function validateClusterName(name: string): string | undefined {
  if (typeof name !== 'string' || !CLUSTER_RE.test(name)) {
    return `expected a cluster name of letters, digits, '-', '_' and '.', got ${shown(String(name))}`;
  }
  if (name.length > CLUSTER_NAME_MAX) {
    return `expected a cluster name of at most ${CLUSTER_NAME_MAX} characters, got ${name.length}`;
  }
  return undefined;
}

/** The cluster a managed job provisions for itself: a name no user can type. */
export function managedClusterName(jobId: number, jobName: string): string {
  return `${jobId}-${jobName}`.slice(0, CLUSTER_NAME_MAX).replace(/[-_.]+$/, '');
}

/** Thrown by entry points that are not the task parser (client library, providers). */
export class InvalidNameError extends Error {
  constructor(
    readonly what: string,
    problem: string,
  ) {
    super(`invalid ${what}: ${problem}`);
    this.name = 'InvalidNameError';
  }
}

export function assertClusterName(name: string): void {
  const problem = validateClusterName(name);
  if (problem) throw new InvalidNameError('cluster name', problem);
}

/** A name users give; `what` says which ("cluster name", "job name"). */
export function assertName(name: string, what = 'name'): void {
  const problem = validateName(name);
  if (problem) throw new InvalidNameError(what, problem);
}
