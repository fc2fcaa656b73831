/**
 * The SSH pools' host ledger, kept by each pool's workflow (`ssh-pool/<pool>`): reservations are
 * updates to that workflow, so two clusters never get one host and a crash loses none.
 */
import { Context } from '@temporalio/activity';
import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import { ProviderError } from '../core/errors';
import {
  TASK_QUEUE,
  poolAssignmentsQuery,
  releaseHostsUpdate,
  reserveHostsUpdate,
  sshPoolWorkflowId,
} from '../workflows/contract';
import type { HostLedger } from './infra/clouds/provider';

/** `client()` gives the Temporal client to use (by default, the running activity's own). */
export function workflowHostLedger(client: () => Client = () => Context.current().client): HostLedger {
  return {
    async reserve(pool, cluster, hosts, count) {
      try {
        return await client().workflow.executeUpdateWithStart(reserveHostsUpdate, {
          args: [{ cluster, hosts, count }],
          startWorkflowOperation: new WithStartWorkflowOperation('sshPoolWorkflow', {
            workflowId: sshPoolWorkflowId(pool),
            taskQueue: TASK_QUEUE,
            args: [{ pool }],
            workflowIdConflictPolicy: 'USE_EXISTING',
            staticSummary: `ssh node pool ${pool}`,
          }),
        });
      } catch (e) {
        const cause = (e as { cause?: { type?: string; message?: string } }).cause;
        if (cause?.type === 'capacity') throw new ProviderError('capacity', cause.message ?? 'no free hosts');
        throw e;
      }
    },
    async assignments(pool) {
      try {
        return await client().workflow.getHandle(sshPoolWorkflowId(pool)).query(poolAssignmentsQuery);
      } catch (e) {
        if ((e as Error).name === 'WorkflowNotFoundError') return {};
        throw new ProviderError('transient', `ssh pool ${pool}: ${(e as Error).message}`);
      }
    },
    async release(pool, cluster) {
      await client()
        .workflow.getHandle(sshPoolWorkflowId(pool))
        .executeUpdate(releaseHostsUpdate, { args: [cluster] });
    },
  };
}
