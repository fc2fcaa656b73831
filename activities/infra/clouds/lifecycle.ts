/**
 * SkyPilot's provisioner loop (sky/provision/provisioner.py) for every infra: bootstrap, run
 * instances, wait for them, cluster info, then wait until each node answers SSH.
 */
import type { ClusterHandle } from '../../../core/cluster';
import { withHostKeyIds } from '../runners/host-keys';
import { waitForSshOnNodes } from '../runners/ssh-wait';
import type { InstanceLifecycle, ProvisionContext, ProvisionRequest } from './provider';

export interface ProvisionOptions {
  /** how long a node may take to answer SSH once it runs */
  sshTimeoutMs?: number;
  /** what must run on each SSH node before it counts as up (default `true`) */
  sshCommand?: (handle: ClusterHandle) => string[];
}

export async function provisionCluster<Boot>(
  steps: InstanceLifecycle<Boot>,
  req: ProvisionRequest,
  ctx: ProvisionContext,
  opts: ProvisionOptions = {},
): Promise<ClusterHandle> {
  const boot = await steps.bootstrap(req, ctx);
  const placement = await steps.runInstances(req, boot, ctx);
  await steps.waitInstances(req, placement, ctx);
  // host keys are recorded (trust on first use) per cluster and instance id, not by IP
  const handle = withHostKeyIds(await steps.clusterInfo(req, placement));
  await waitForSshOnNodes(handle.nodes, {
    sleep: (ms) => ctx.sleep(ms),
    timeoutMs: opts.sshTimeoutMs,
    command: opts.sshCommand?.(handle),
  });
  return handle;
}
