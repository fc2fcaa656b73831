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
  type ClusterWhere,
  type InstanceState,
  type Provider,
  type ProvisionContext,
  type ProvisionRequest,
  restartRequest,
  spotStopRefusal,
} from '../provider';
import { cloudSettings } from '../../settings';
import { deleteFirewall, osLoginHint, projectOsLogin } from './bootstrap';
import { adcFile, adcProject, configuredProject, endpoint } from './client';
import { deleteInstances, lastPart, listAll, listInstances, stateOf, stopInstances } from './instances';
import { READY_TIMEOUT_MS, gceClients, gcpLifecycle } from './provision';

export { gcpError } from './errors';
export { DEFAULT_GCP_IMAGE, GCP_LABELS, firewallName, instanceName, labelValue, requestIdFor } from './names';

const NO_PROJECT = 'no GCP project: set gcp.project in the SkyRun config, or GOOGLE_CLOUD_PROJECT';

/**
 * An SSH wait that failed on a project with OS Login on: the same failure would come in every
 * zone (10 minutes each), so it blocks the cloud at once ('config') naming the setting.
 */
async function withOsLoginHint(e: unknown): Promise<unknown> {
  if (!(e instanceof ProviderError) || !/^ssh .*not ready/.test(e.message)) return e;
  const hint = osLoginHint(await projectOsLogin(await gceClients()));
  return hint ? new ProviderError('config', `${e.message}; ${hint}`, 'OS_LOGIN') : e;
}

export class GcpProvider implements Provider {
  readonly name = 'gcp';

  async check() {
    try {
      if (endpoint()) return configuredProject() ? { enabled: true } : { enabled: false, reason: NO_PROJECT };
      // on a GCE VM, `gcp: {use_metadata_server: true}`: the VM's service account, no ADC file needed
      if (cloudSettings('gcp').use_metadata_server === true) return await this.checkMetadataServer();
      const file = adcFile();
      if (!file) {
        return {
          enabled: false,
          reason:
            'no GCP credentials: run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS ' +
            '(on a GCE VM: gcp.use_metadata_server: true in the SkyRun config)',
        };
      }
      if (!existsSync(file)) return { enabled: false, reason: `GOOGLE_APPLICATION_CREDENTIALS=${file}: no such file` };
      if (!configuredProject() && !adcProject(file)) return { enabled: false, reason: NO_PROJECT };
      return { enabled: true };
    } catch (e) {
      return { enabled: false, reason: (e as Error).message.split('\n')[0] };
    }
  }

  /**
   * Credentials from the GCE metadata server (https://cloud.google.com/compute/docs/metadata/querying-metadata):
   * the VM's project (unless configured) and a token of its service account, each within 3 s.
   */
  private async checkMetadataServer(): Promise<{ enabled: boolean; reason?: string }> {
    const host = process.env.GCE_METADATA_HOST || process.env.GCE_METADATA_IP || 'metadata.google.internal';
    const get = async (what: string) => {
      const r = await fetch(`http://${host}/computeMetadata/v1/${what}`, {
        headers: { 'Metadata-Flavor': 'Google' },
        signal: AbortSignal.timeout(3000),
      });
      if (!r.ok) throw new Error(`${what}: HTTP ${r.status}`);
      return r.text();
    };
    try {
      const project = configuredProject() ?? (await get('project/project-id'));
      if (!project) return { enabled: false, reason: NO_PROJECT };
      const token = JSON.parse(await get('instance/service-accounts/default/token')) as { access_token?: string };
      if (!token.access_token) throw new Error('no access token for the default service account');
      return { enabled: true };
    } catch (e) {
      const why = String((e as Error)?.message ?? e).split('\n')[0];
      return {
        enabled: false,
        reason: `gcp.use_metadata_server: no credentials from the metadata server at ${host}: ${why}`,
      };
    }
  }

  async offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]> {
    if (r.infra.cloud !== undefined && r.infra.cloud !== 'gcp') return [];
    return catalogOffers('gcp', r, numNodes, candidate);
  }

  async provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    try {
      return await provisionCluster(gcpLifecycle, req, ctx, { sshTimeoutMs: READY_TIMEOUT_MS });
    } catch (e) {
      throw await withOsLoginHint(e);
    }
  }

  /** The cluster's instances; straight in its zones when the handle says where, else every zone. */
  async query(clusterName: string, where?: ClusterWhere): Promise<InstanceState[]> {
    const c = await gceClients();
    if (where?.zones?.length || !where?.regions?.length)
      return (await listInstances(c, clusterName, where?.zones)).map(stateOf);
    // only regions known: every zone in one aggregated list, but only those regions' zones must answer
    const { items, unreachable } = await listAll(c, clusterName);
    const inRegions = (z: string) => where.regions!.some((r) => z.startsWith(`${r}-`));
    const missing = unreachable.filter(inRegions);
    if (missing.length) {
      throw new ProviderError('transient', `could not list the instances of ${clusterName} in ${missing.join(', ')}`);
    }
    return items.filter((i) => inRegions(lastPart(i.zone))).map(stateOf);
  }

  /**
   * Delete every labelled instance in every zone that answers, wait until none is listed, then
   * the firewall rules; a zone that could not be listed fails it afterwards, named (the cluster
   * is never called gone while some of it may be left).
   */
  async terminate(clusterName: string): Promise<void> {
    const c = await gceClients();
    let unreachable: string[] = [];
    for (let round = 0; ; round++) {
      const listing = await listAll(c, clusterName);
      unreachable = listing.unreachable;
      const left = listing.items;
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
    if (unreachable.length) {
      throw new ProviderError(
        'transient',
        `${clusterName}: deleted what could be reached; could not check ${unreachable.join(', ')} (listing unreachable)`,
      );
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
