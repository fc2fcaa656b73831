/** Workflow ids and the task queue: how client, worker and workflows find each other. */

export const TASK_QUEUE = 'skyrun';

export function clusterWorkflowId(name: string): string {
  return `cluster/${name}`;
}

export function managedJobWorkflowId(id: number): string {
  return `managed-job/${id}`;
}

export function sshPoolWorkflowId(pool: string): string {
  return `ssh-pool/${pool}`;
}
