/**
 * Per-cluster setup on GCP: ingress firewall rules by the cluster's network tag (SSH always, the
 * task's ports when it has some), and the project's OS Login setting.
 */
import { type Clients, type GceOperation, waitOp } from './client';
import { gcpError, isNotFound } from './errors';
import { firewallName, namePrefix, sshFirewallName } from './names';

type Sleep = (ms: number) => Promise<void>;

/** Ensure one INGRESS rule `name` (tcp `ports` from anywhere to the cluster's tag); an existing one is kept. */
async function ensureRule(
  c: Clients,
  name: string,
  cluster: string,
  ports: { from: number; to: number }[],
  sleep: Sleep,
): Promise<void> {
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

/**
 * The cluster's rules: SSH (tcp:22) always, since SkyRun reaches every node over SSH and a
 * project's default network need not allow it (its `default-allow-ssh` rule is only created with
 * an auto-mode default network and is often removed:
 * https://cloud.google.com/firewall/docs/firewalls#more_rules_default_vpc); the task's ports when asked.
 */
export async function ensureFirewalls(
  c: Clients,
  cluster: string,
  ports: { from: number; to: number }[] | undefined,
  sleep: Sleep,
): Promise<void> {
  await ensureRule(c, sshFirewallName(cluster), cluster, [{ from: 22, to: 22 }], sleep);
  if (ports?.length) await ensureRule(c, firewallName(cluster), cluster, ports, sleep);
}

/** Delete the cluster's firewall rules; "not found" is done. */
export async function deleteFirewall(c: Clients, cluster: string): Promise<void> {
  for (const fw of [firewallName(cluster), sshFirewallName(cluster)]) {
    try {
      const [op] = await c.firewalls.delete({ project: c.project, firewall: fw });
      await waitOp(c, op.latestResponse as GceOperation, undefined);
    } catch (e) {
      if (!isNotFound(e)) throw gcpError(e, `delete firewall ${fw}`);
    }
  }
}

/**
 * Whether the project turns OS Login on (`enable-oslogin` TRUE in its common instance metadata,
 * https://cloud.google.com/compute/docs/oslogin/set-up-oslogin), where metadata SSH keys are
 * ignored unless the instance turns it off again. Undefined when the project cannot be read.
 */
export async function projectOsLogin(c: Clients): Promise<boolean | undefined> {
  try {
    const [p] = await c.projects.get({ project: c.project });
    const item = p.commonInstanceMetadata?.items?.find((i) => i.key === 'enable-oslogin');
    return /^(true|1|yes)$/i.test(item?.value ?? '');
  } catch {
    return undefined; // compute.projects.get may be denied: the instances turn OS Login off anyway
  }
}

/** Why SSH may never answer on this project: the setting a user must change (undefined when none). */
export function osLoginHint(osLogin: boolean | undefined): string | undefined {
  return osLogin
    ? 'the project sets enable-oslogin=TRUE; SkyRun turns it off on its instances (metadata enable-oslogin=FALSE), ' +
        'which an organisation policy constraints/compute.requireOsLogin overrides: lift that policy for the project, ' +
        'or set enable-oslogin=FALSE in the project metadata'
    : undefined;
}
