/** Per-cluster network setup on GCP: one ingress firewall rule for the task's ports, by name. */
import { type Clients, type GceOperation, waitOp } from './client';
import { gcpError, isNotFound } from './errors';
import { firewallName, namePrefix } from './names';

export async function ensureFirewall(
  c: Clients,
  cluster: string,
  ports: { from: number; to: number }[],
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  const name = firewallName(cluster);
  try {
    await c.firewalls.get({ project: c.project, firewall: name });
    return;
  } catch (e) {
    if (!isNotFound(e)) throw gcpError(e, `firewall ${name}`);
  }
  try {
    const [op] = await c.firewalls.insert({
      project: c.project,
      firewallResource: {
        name,
        network: 'global/networks/default',
        direction: 'INGRESS',
        sourceRanges: ['0.0.0.0/0'],
        targetTags: [namePrefix(cluster)],
        allowed: [
          { IPProtocol: 'tcp', ports: ports.map((p) => (p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`)) },
        ],
      },
    });
    await waitOp(c, op.latestResponse as GceOperation, undefined, sleep);
  } catch (e) {
    const pe = gcpError(e, `firewall ${name}`);
    if (pe.code === 'alreadyExists' || /already exists/.test(pe.message)) return;
    throw pe;
  }
}

/** Delete the cluster's firewall rule; "not found" is done. */
export async function deleteFirewall(c: Clients, cluster: string): Promise<void> {
  const fw = firewallName(cluster);
  try {
    const [op] = await c.firewalls.delete({ project: c.project, firewall: fw });
    await waitOp(c, op.latestResponse as GceOperation, undefined);
  } catch (e) {
    if (!isNotFound(e)) throw gcpError(e, `delete firewall ${fw}`);
  }
}
