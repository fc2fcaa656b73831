/**
 * The gcp provider against a fake Compute Engine that says no where the real one does
 * (test/helpers/fake-gce-rules.ts): boot disk types per machine series, machine types a zone
 * lacks, zones an aggregated list cannot reach, OS Login and SSH firewall rules (SSH goes
 * through a gate that asks the fake whether port 22 of that external IP would let SkyRun in),
 * service accounts; and the metadata server for `use_metadata_server`.
 */
import './helpers/gcp-ready-timeout';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GcpProvider } from '../activities/infra/clouds/gcp';
import { diskTypeFor } from '../activities/infra/clouds/gcp/disks';
import { insertBody } from '../activities/infra/clouds/gcp/instances';
import { insertRefusal } from './helpers/fake-gce-rules';
import { ctx, request, useGcpEnv } from './helpers/gcp-env';

const env = useGcpEnv();
const provider = new GcpProvider();
const DLVM = 'projects/deeplearning-platform-release/global/images/family/common-cu128-ubuntu-2204-nvidia-570';

const failure = <T>(p: Promise<T>) =>
  p.then(
    () => undefined,
    (e) => e,
  );

test('boot disks: hyperdisk-balanced on N4, pd-balanced on C3 (never the pd-standard default), disk_size honoured', async () => {
  const n4 = await provider.provision(request('disk-n4', { instanceType: 'n4-standard-2' }), ctx);
  const c3 = await provider.provision(
    request('disk-c3', { instanceType: 'c3-standard-4' }, { diskSizeGb: 100, diskTier: 'low' }),
    ctx,
  );
  const [a, b] = env.gce.inserts();
  expect(a!.body.disks[0].initializeParams).toMatchObject({
    diskType: `zones/${n4.zone}/diskTypes/hyperdisk-balanced`,
    diskSizeGb: '256',
  });
  // low is pd-standard, which C3 refuses: the next tier up
  expect(b!.body.disks[0].initializeParams).toMatchObject({
    diskType: `zones/${c3.zone}/diskTypes/pd-balanced`,
    diskSizeGb: '100',
  });
  await provider.terminate('disk-n4');
  await provider.terminate('disk-c3');
});

test('every series and disk tier: SkyRun picks a disk type the fake (Google’s tables) accepts', () => {
  const types = ['n1-standard-8', 'n2-standard-8', 'n2-standard-64', 'e2-standard-4', 'c2-standard-8', 'a2-highgpu-1g'];
  types.push('g2-standard-4', 'a3-highgpu-8g', 'a3-ultragpu-8g', 'c3-standard-4', 'c3d-standard-4', 'n4-standard-2');
  types.push('c4-standard-4', 'c4a-standard-4', 'a4-highgpu-8g', 'm3-megamem-64');
  const picked: Record<string, string[]> = {};
  for (const t of types) {
    for (const tier of [undefined, 'low', 'medium', 'high', 'ultra', 'best'] as const) {
      const diskType = diskTypeFor(t, tier);
      const body = {
        machineType: `zones/z/machineTypes/${t}`,
        disks: [{ boot: true, initializeParams: { diskType } }],
      };
      expect([t, tier, insertRefusal(body, 'z', undefined)]).toEqual([t, tier, undefined]);
      (picked[t] ??= []).push(diskType);
    }
  }
  // the tiers as SkyPilot maps them where the series takes them all
  expect(picked['n2-standard-64']).toEqual([
    'pd-balanced',
    'pd-standard',
    'pd-balanced',
    'pd-ssd',
    'pd-extreme',
    'pd-extreme',
  ]);
  expect(picked['n2-standard-8']!.slice(4)).toEqual(['pd-ssd', 'pd-ssd']);
  expect(new Set(picked['n4-standard-2'])).toEqual(new Set(['hyperdisk-balanced']));
  // pd-extreme carries its IOPS
  const ultra = insertBody(request('x', { instanceType: 'n2-standard-64' }, { diskTier: 'ultra' }), 'z', 0);
  expect(ultra.disks[0]!.initializeParams).toMatchObject({
    diskType: 'zones/z/diskTypes/pd-extreme',
    provisionedIops: '20000',
  });
});

test('GPU nodes boot the Deep Learning VM image (NVIDIA driver); CPU nodes Ubuntu; the task image wins', async () => {
  await provider.provision(
    request('gpu', { instanceType: 'g2-standard-4', accelerator: { name: 'L4', count: 1 } }),
    ctx,
  );
  await provider.provision(request('cpu', {}), ctx);
  await provider.provision(request('own', {}, { imageId: 'projects/my/global/images/mine' }), ctx);
  const [gpu, cpu, own] = env.gce.inserts();
  expect(gpu!.body.disks[0].initializeParams.sourceImage).toBe(DLVM);
  expect(gpu!.body.disks[0].initializeParams.diskType).toMatch(/pd-balanced$/);
  expect(gpu!.body.metadata.items).toContainEqual({ key: 'install-nvidia-driver', value: 'True' });
  expect(cpu!.body.disks[0].initializeParams.sourceImage).toBe(
    'projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts',
  );
  expect(own!.body.disks[0].initializeParams.sourceImage).toBe('projects/my/global/images/mine');
  for (const c of ['gpu', 'cpu', 'own']) await provider.terminate(c);
});

test('a machine type the zone does not offer blocks that zone only: the next zone is used', async () => {
  env.gce.zoneMachineTypes['us-central1-a'] = ['e2-medium'];
  const h = await provider.provision(request('mt', {}), ctx);
  expect(h.zone).toBe('us-central1-b');
  expect(env.gce.live('mt').map((i) => i.zone.split('/').pop())).toEqual(['us-central1-b']);
  await provider.terminate('mt');
});

test('SSH: a tcp:22 rule for the cluster tag even without ports; down removes it', async () => {
  const h = await provider.provision(request('sshfw', {}), ctx);
  expect(env.gce.sshOpen(h.nodes[0]!.instanceId)).toBe(true);
  expect(env.gce.firewalls.get('skyrun-sshfw-ssh')).toMatchObject({
    targetTags: ['sshfw'],
    allowed: [{ IPProtocol: 'tcp', ports: ['22'] }],
  });
  await provider.terminate('sshfw');
  expect(env.gce.firewalls.has('skyrun-sshfw-ssh')).toBe(false);
});

test('OS Login on the project: instances turn it off, so the metadata key works', async () => {
  env.gce.projectMetadata['enable-oslogin'] = 'TRUE';
  const h = await provider.provision(request('oslogin', {}), ctx);
  expect(env.gce.sshKeysHonoured(h.nodes[0]!.instanceId)).toBe(true);
  await provider.terminate('oslogin');
});

test('OS Login forced by an organisation policy: SSH never answers; one zone, then a config error naming the setting', async () => {
  env.gce.projectMetadata['enable-oslogin'] = 'TRUE';
  env.gce.requireOsLogin = true;
  const err = await failure(provider.provision(request('forced', {}), ctx));
  expect(err).toMatchObject({ name: 'ProviderError', errorClass: 'config' });
  expect(err.message).toMatch(/enable-oslogin/);
  expect(err.message).toMatch(/constraints\/compute.requireOsLogin/);
  await provider.terminate('forced');
  expect(env.gce.live('forced')).toEqual([]);
});

test('instances run as the default compute service account (cloud-platform scope), or gcp.service_account', async () => {
  await provider.provision(request('sa1', {}), ctx);
  env.configure(['service_account: runner@test-project.iam.gserviceaccount.com']);
  try {
    await provider.provision(request('sa2', {}), ctx);
  } finally {
    env.configure();
  }
  const [one, two] = env.gce.inserts();
  const scopes = ['https://www.googleapis.com/auth/cloud-platform'];
  expect(one!.body.serviceAccounts).toEqual([{ email: 'default', scopes }]);
  expect(two!.body.serviceAccounts).toEqual([{ email: 'runner@test-project.iam.gserviceaccount.com', scopes }]);
  await provider.terminate('sa1');
  await provider.terminate('sa2');
});

test('a zone that cannot be listed: terminate deletes the rest, then fails naming it; never reports gone', async () => {
  const h = await provider.provision(request('iso', { zones: ['us-central1-a'] }), ctx);
  expect(env.gce.inserts()[0]!.body.labels).toMatchObject({
    'skyrun-region': 'us-central1',
    'skyrun-zone': 'us-central1-a',
  });
  // an earlier attempt's node in zone b (another offer key)
  await provider.provision({ ...request('iso', { zones: ['us-central1-b'] }), offerKey: 'cluster/iso#1' }, ctx);
  env.gce.unreachable.add('us-central1-b');
  const err = await failure(provider.terminate('iso'));
  expect(err?.message).toMatch(/could not check us-central1-b/);
  expect(env.gce.live('iso').map((i) => i.zone.split('/').pop())).toEqual(['us-central1-b']);
  // a query over every zone cannot say what is in b: it fails rather than answer without it
  expect((await failure(provider.query('iso')))?.message).toMatch(/us-central1-b/);
  // the handle says where the cluster is: straight there, one zonal list
  env.gce.requests.length = 0;
  expect(await provider.query('iso', { zones: [h.zone!] })).toEqual([]);
  expect(env.gce.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET zones/us-central1-a/instances']);
  // only the region known (a watch from the handle's region): zone b is in it, so still no answer
  expect((await failure(provider.query('iso', { regions: ['us-central1'] })))?.message).toMatch(/us-central1-b/);
  env.gce.unreachable.clear();
  env.gce.unreachable.add('europe-west4-a');
  expect(await provider.query('iso', { regions: ['us-central1'] })).toHaveLength(1);
  env.gce.unreachable.clear();
  await provider.terminate('iso');
  expect(env.gce.live('iso')).toEqual([]);
});

describe('check with use_metadata_server', () => {
  const keep = { ...process.env };
  afterEach(() => {
    process.env = { ...keep };
  });

  test('enabled from the GCE metadata server, without any ADC file', async () => {
    delete process.env.SKYRUN_GCE_ENDPOINT;
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.CLOUDSDK_CONFIG = mkdtempSync(path.join(os.tmpdir(), 'skyrun-gcloud-'));
    process.env.HOME = process.env.CLOUDSDK_CONFIG;
    process.env.GCE_METADATA_HOST = new URL(env.gce.url).host;
    expect((await provider.check()).enabled).toBe(false);
    env.configure(['use_metadata_server: true']);
    try {
      expect(await provider.check()).toEqual({ enabled: true });
    } finally {
      env.configure();
    }
  });
});
