/**
 * Where the loopback Compute Engine (fake-gce.ts) says no like the real one, each rule written
 * from Google's documentation (cited at the rule), independently of SkyRun's own tables.
 */
import type * as http from 'node:http';

/**
 * Machine series whose boot disk cannot be Persistent Disk at all (Hyperdisk only), and those
 * that refuse pd-standard, from the "Supported disk types" section of each series:
 * https://cloud.google.com/compute/docs/general-purpose-machines (N4, C3 and C3D refuse
 * pd-standard; N4 is Hyperdisk only), https://cloud.google.com/compute/docs/compute-optimized-machines
 * (C4/C4A/C4D Hyperdisk only), https://cloud.google.com/compute/docs/accelerator-optimized-machines
 * (A3 High/Mega/Edge and G2: no pd-standard nor pd-extreme; A3 Ultra and A4: Hyperdisk only).
 * pd-extreme: only N2 with 64+ vCPUs and M1/M2/M3 (https://cloud.google.com/compute/docs/disks/extreme-persistent-disk).
 */
const HYPERDISK_ONLY = ['n4', 'c4', 'c4a', 'c4d', 'a4', 'x4'];
const NO_PD_STANDARD = ['c3', 'c3d', 'a3', 'g2'];

function diskTypeRefused(machineType: string, diskType: string): boolean {
  const series = machineType.split('-')[0]!;
  if (HYPERDISK_ONLY.includes(series) || machineType.startsWith('a3-ultragpu'))
    return !diskType.startsWith('hyperdisk-');
  if (diskType === 'pd-standard') return NO_PD_STANDARD.includes(series);
  if (diskType === 'pd-extreme')
    return !(['m1', 'm2', 'm3'].includes(series) || (series === 'n2' && Number(machineType.split('-')[2]) >= 64));
  return false;
}

/** Why Compute Engine would refuse this insert in this zone (HTTP 400), or undefined. */
export function insertRefusal(
  body: any,
  zone: string,
  offered: string[] | undefined,
): { message: string; reason: string } | undefined {
  const machineType = String(body?.machineType ?? '')
    .split('/')
    .pop()!;
  // a zone offers only some machine types (`gcp compute machine-types list --zones`); another
  // is refused as "does not exist in zone" (the shape of instances.insert's 400)
  if (offered && !offered.includes(machineType)) {
    return {
      reason: 'invalid',
      message: `Invalid value for field 'resource.machineType': '${body.machineType}'. Machine type with name '${machineType}' does not exist in zone '${zone}'.`,
    };
  }
  // AttachedDiskInitializeParams.diskType: "If not specified, the default is pd-standard"
  // (https://cloud.google.com/compute/docs/reference/rest/v1/instances/insert); the message is
  // the one users report (SkyPilot #3933, dsub #301)
  const boot = (body?.disks ?? []).find((d: any) => d?.boot) ?? body?.disks?.[0];
  const diskType = String(boot?.initializeParams?.diskType ?? 'pd-standard')
    .split('/')
    .pop()!;
  if (diskTypeRefused(machineType, diskType)) {
    return {
      reason: 'badRequest',
      message: `[${diskType}, ${machineType}] features are not compatible for creating instance.`,
    };
  }
  // service accounts: "default" (the project's Compute Engine default service account) or an
  // account's email (https://cloud.google.com/compute/docs/access/create-enable-service-accounts-for-instances)
  for (const [n, sa] of ((body?.serviceAccounts ?? []) as Array<{ email?: string }>).entries()) {
    const email = sa?.email ?? '';
    if (email !== 'default' && !/^[a-z0-9-]+@([a-z0-9-]+\.iam|developer)\.gserviceaccount\.com$/.test(email)) {
      return {
        reason: 'invalid',
        message: `Invalid value for field 'resource.serviceAccounts[${n}].email': '${email}'. The user does not have access to service account '${email}'.`,
      };
    }
  }
  return undefined;
}

const metadataValue = (items: unknown, key: string): string | undefined =>
  ((items ?? []) as Array<{ key: string; value: string }>).find((i) => i.key === key)?.value;

/**
 * Whether OS Login governs SSH on the instance, so metadata `ssh-keys` are ignored
 * (https://cloud.google.com/compute/docs/oslogin/set-up-oslogin): instance metadata
 * `enable-oslogin` overrides the project's; the organisation policy
 * constraints/compute.requireOsLogin turns it on whatever the metadata says
 * (https://cloud.google.com/compute/docs/oslogin/manage-oslogin-in-an-org).
 */
export function osLoginOn(
  instance: { metadata?: Record<string, unknown> },
  project: Record<string, string>,
  requireOsLogin: boolean,
): boolean {
  if (requireOsLogin) return true;
  const own = metadataValue(instance.metadata?.items, 'enable-oslogin');
  return /^true$/i.test(own ?? project['enable-oslogin'] ?? 'false');
}

/**
 * Whether an INGRESS rule lets tcp `port` from anywhere reach an instance with these network
 * tags: a rule without targetTags applies to every instance of the network
 * (https://cloud.google.com/firewall/docs/firewalls#rule_assignment). VPC networks deny ingress
 * by default (implied rule), and this project has no `default-allow-ssh`.
 */
export function firewallAllows(rules: any[], tags: string[], port: number): boolean {
  return rules.some((r) => {
    if ((r.direction ?? 'INGRESS') !== 'INGRESS' || r.disabled) return false;
    if (!(r.sourceRanges ?? []).includes('0.0.0.0/0')) return false;
    if (r.targetTags?.length && !r.targetTags.some((t: string) => tags.includes(t))) return false;
    return (r.allowed ?? []).some(
      (a: any) =>
        (a.IPProtocol === 'tcp' || a.IPProtocol === 'all') &&
        (!a.ports?.length ||
          a.ports.some((p: string) => {
            const [from, to] = p.split('-').map(Number);
            return port >= from! && port <= (to ?? from)!;
          })),
    );
  });
}

/**
 * The GCE metadata server, the part google-auth-library reads
 * (https://cloud.google.com/compute/docs/metadata/querying-metadata): every request must carry
 * `Metadata-Flavor: Google`, and so does every answer.
 */
export function metadataServer(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  pathname: string,
  project: string,
): void {
  const reply = (code: number, body: string, type = 'application/text') => {
    res.writeHead(code, { 'content-type': type, 'metadata-flavor': 'Google' });
    res.end(body);
  };
  if (req.headers['metadata-flavor'] !== 'Google') return reply(403, 'Missing Metadata-Flavor:Google header.');
  const p = pathname.replace(/^\/computeMetadata\/v1\/?/, '').replace(/\/$/, '');
  if (p === 'instance' || p === '') return reply(200, '');
  if (p === 'project/project-id') return reply(200, project);
  if (p === 'instance/service-accounts/default/email') return reply(200, `123-compute@developer.gserviceaccount.com`);
  if (p === 'instance/service-accounts/default/token') {
    return reply(
      200,
      JSON.stringify({ access_token: 'fake-token', expires_in: 3599, token_type: 'Bearer' }),
      'application/json',
    );
  }
  return reply(404, 'Not Found');
}
