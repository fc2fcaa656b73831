/**
 * The owner of an SSH node pool (id `ssh-pool/<pool>`): a durable entity that hands hosts to
 * clusters, so two clusters never get the same host, and a failed or downed cluster gives its
 * hosts back. Its updates run one at a time; a crash of any process loses no reservation.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { type SshPoolInput, poolAssignmentsQuery, releaseHostsUpdate, reserveHostsUpdate } from './contract';

export async function sshPoolWorkflow(input: SshPoolInput): Promise<void> {
  const assignments: Record<string, string> = { ...(input.assignments ?? {}) };
  setHandler(poolAssignmentsQuery, () => assignments);
  setHandler(reserveHostsUpdate, ({ cluster, hosts, count }) => {
    const held = Object.keys(assignments).filter((h) => assignments[h] === cluster);
    if (held.length >= count) return held.slice(0, count);
    const free = hosts.filter((h) => assignments[h] === undefined);
    if (held.length + free.length < count) {
      // the activity maps this type to the capacity class: failover moves on
      throw ApplicationFailure.nonRetryable(
        `ssh pool '${input.pool}' has ${free.length} free host(s) of ${hosts.length}; '${cluster}' needs ${count}`,
        'capacity',
      );
    }
    for (const h of free.slice(0, count - held.length)) assignments[h] = cluster;
    return hosts.filter((h) => assignments[h] === cluster);
  });
  setHandler(releaseHostsUpdate, (cluster) => {
    const released = Object.keys(assignments).filter((h) => assignments[h] === cluster);
    for (const h of released) delete assignments[h];
    return released;
  });
  await condition(() => workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof sshPoolWorkflow>({ pool: input.pool, assignments });
}
