/**
 * `gcp` infra: Compute Engine VMs through `@google-cloud/compute` (REST transport).
 *
 * Labels are the source of truth: every instance carries `skyrun-cluster`, `skyrun-offer-key`
 * (a label-safe hash of the workflow's offer key), `skyrun-node: head|worker` and `skyrun-rank`.
 * Provisioning (provision.ts) adopts what the labels say exists; terminate deletes by label,
 * waits the operations and lists again until nothing is left. On-demand clusters can be stopped
 * (disks kept) and started again with the same VMs; their external IPs may change.
 * Credentials and project: client.ts; errors: errors.ts.
 */
import { existsSync } from 'node:fs';
import type { ClusterHandle } from '../../../../core/cluster';
import { ProviderError } from '../../../../core/errors';
import type { Offer } from '../../../../core/offers';
import type { Resources } from '../../../../core/task';
import { catalogOffers } from '../../catalog';
import { provisionCluster } from '../lifecycle';
import {
  type InstanceState,
  type Provider,
  type ProvisionContext,
  type ProvisionRequest,
  restartRequest,
  spotStopRefusal,
} from '../provider';
import { deleteFirewall } from './bootstrap';
import { adcFile, adcProject, configuredProject, endpoint } from './client';
import { deleteInstances, listInstances, stateOf, stopInstances } from './instances';
import { READY_TIMEOUT_MS, gceClients, gcpLifecycle } from './provision';

export { gcpError } from './errors';
export { DEFAULT_GCP_IMAGE, GCP_LABELS, firewallName, instanceName, labelValue, requestIdFor } from './names';

const NO_PROJECT = 'no GCP project: set gcp.project in the SkyRun config, or GOOGLE_CLOUD_PROJECT';

export class GcpProvider implements Provider {
  readonly name = 'gcp';

  async check() {
    try {
      if (endpoint()) return configuredProject() ? { enabled: true } : { enabled: false, reason: NO_PROJECT };
      const file = adcFile();
      if (!file) {
        return {
          enabled: false,
          reason:
            'no GCP credentials: run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS',
        };
      }
      if (!existsSync(file)) return { enabled: false, reason: `GOOGLE_APPLICATION_CREDENTIALS=${file}: no such file` };
      if (!configuredProject() && !adcProject(file)) return { enabled: false, reason: NO_PROJECT };
      return { enabled: true };
    } catch (e) {
      return { enabled: false, reason: (e as Error).message.split('\n')[0] };
    }
  }

  async offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]> {
    if (r.infra.cloud !== undefined && r.infra.cloud !== 'gcp') return [];
    return catalogOffers('gcp', r, numNodes, candidate);
  }

  provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    return provisionCluster(gcpLifecycle, req, ctx, { sshTimeoutMs: READY_TIMEOUT_MS });
  }

  async query(clusterName: string): Promise<InstanceState[]> {
    return (await listInstances(await gceClients(), clusterName)).map(stateOf);
  }

  async terminate(clusterName: string): Promise<void> {
    const c = await gceClients();
    for (let round = 0; ; round++) {
      const left = await listInstances(c, clusterName);
      if (!left.length) break;
      if (round >= 10)
        throw new ProviderError(
          'transient',
          `${left.length} instance(s) of ${clusterName} still listed: ${left.map((i) => i.name).join(', ')}`,
        );
      // an instance already being deleted needs no second delete; wait for it to go
      await deleteInstances(
        c,
        left.filter((i) => i.status !== 'STOPPING' || round > 0),
      );
      if (round > 0) await new Promise((r) => setTimeout(r, Math.min(1000 * round, 5000)));
    }
    await deleteFirewall(c, clusterName);
  }

  stopRefusal(handle: ClusterHandle): string | undefined {
    return spotStopRefusal(handle);
  }

  /** Stop every VM of the cluster and wait for the operations; boot disks stay. */
  async stop(handle: ClusterHandle, ctx: ProvisionContext): Promise<void> {
    const c = await gceClients();
    await stopInstances(c, await listInstances(c, handle.clusterName), ctx.sleep);
  }

  /** Start the stopped VMs again (run_instances resumes them), wait for SSH; their IPs as they are now. */
  start(handle: ClusterHandle, ctx: ProvisionContext): Promise<ClusterHandle> {
    return provisionCluster(gcpLifecycle, restartRequest(handle), ctx, { sshTimeoutMs: READY_TIMEOUT_MS });
  }
}
