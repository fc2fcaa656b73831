/**
 * The gcp provider against a loopback Compute Engine (test/helpers/fake-gce.ts, the REST shapes
 * of compute v1) with the real @google-cloud/compute client, and a real sshd for SSH readiness
 * (reached through the configured ssh_proxy_command). Then end to end: the real CLI, dev server
 * and worker launch on GCP, fail over from a zone without capacity, run the task and tear down.
 */
import { appendFileSync } from 'node:fs';
import * as path from 'node:path';
import { GcpProvider } from '../activities/infra/clouds/gcp';
import { skyrunSshKey } from '../activities/infra/settings';
import { ctx, request, useGcpEnv, writeConfig } from './helpers/gcp-env';
import { FIXTURES } from './helpers/sim';
import { SkyrunEnv } from './helpers/skyrun';

const env = useGcpEnv();
const provider = new GcpProvider();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('check: enabled with an endpoint and a project; a one-line reason without credentials', async () => {
  expect(await provider.check()).toEqual({ enabled: true });
  const { SKYRUN_GCE_ENDPOINT } = process.env;
  try {
    delete process.env.SKYRUN_GCE_ENDPOINT;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = path.join(env.home, 'missing.json');
    const c = await provider.check();
    expect(c.enabled).toBe(false);
    expect(c.reason).toMatch(/missing\.json: no such file/);
    expect(c.reason).not.toContain('\n');
  } finally {
    process.env.SKYRUN_GCE_ENDPOINT = SKYRUN_GCE_ENDPOINT;
    delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  }
});

test('offers come from the GCP catalog: L4 on g2, T4 on an n1 host', async () => {
  const base = { infra: {}, useSpot: false, ports: [], labels: {} };
  const l4 = await provider.offers({ ...base, accelerator: { name: 'L4', count: 1 } }, 1, 0);
  expect(l4[0]).toMatchObject({
    cloud: 'gcp',
    region: 'us-east4',
    instanceType: 'g2-standard-4',
    zones: ['us-east4-a', 'us-east4-c'],
  });
  const t4 = await provider.offers({ ...base, accelerator: { name: 'T4', count: 1 } }, 1, 0);
  expect(t4[0]!.instanceType).toBe('n1-standard-8');
  expect(await provider.offers({ ...base, infra: { cloud: 'aws' } }, 1, 0)).toEqual([]);
});

test('provision: labelled instances with a requestId, head first, SSH ready; a retry adopts them', async () => {
  const req = request('two', { numNodes: 2 }, { labels: { team: 'ml' } });
  const h = await provider.provision(req, ctx);
  expect(h.zone).toBe('us-central1-a');
  expect(h.nodes.map((n) => n.rank)).toEqual([0, 1]);
  expect(h.nodes[0]!.runner).toMatchObject({
    kind: 'ssh',
    user: 'root',
    port: 22,
    identityFile: skyrunSshKey().privateKey,
  });
  expect((h.nodes[0]!.runner as { proxyCommand?: string }).proxyCommand).toContain(
    `/dev/tcp/${env.sshd.host}/${env.sshd.port}`,
  );
  const inserts = env.gce.inserts();
  expect(inserts).toHaveLength(2);
  for (const [rank, ins] of inserts.entries()) {
    expect(ins.path).toBe('zones/us-central1-a/instances');
    expect(ins.query.requestId).toMatch(UUID);
    expect(ins.body.machineType).toBe('zones/us-central1-a/machineTypes/n2-standard-8');
    expect(ins.body.labels).toMatchObject({
      'skyrun-cluster': 'two',
      'skyrun-node': rank === 0 ? 'head' : 'worker',
      team: 'ml',
    });
    expect(ins.body.labels['skyrun-offer-key']).toMatch(/^[a-f0-9]{16}$/);
    expect(ins.body.disks[0].initializeParams.sourceImage).toBe(
      'projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts',
    );
    expect(ins.body.metadata.items[0]).toEqual({ key: 'ssh-keys', value: `root:${skyrunSshKey().publicKey}` });
    expect(ins.body.guestAccelerators).toBeUndefined();
    expect(ins.body.scheduling).toBeUndefined();
  }
  expect(new Set(inserts.map((i) => i.query.requestId)).size).toBe(2);
  expect(ctx.beats[0]).toEqual(h.nodes.map((n) => n.instanceId));

  // the activity retried: the same instances, nothing inserted again
  const again = await provider.provision(req, ctx);
  expect(again.nodes.map((n) => n.instanceId)).toEqual(h.nodes.map((n) => n.instanceId));
  expect(env.gce.inserts()).toHaveLength(2);
  expect(env.gce.live('two')).toHaveLength(2);

  // the same requestId sent twice (a lost response) is one instance
  await provider.terminate('two');
  const r = await fetch(
    `${env.gce.url}/compute/v1/projects/test-project/zones/us-central1-a/instances?requestId=${inserts[0]!.query.requestId}`,
    {
      method: 'POST',
      body: JSON.stringify(inserts[0]!.body),
    },
  );
  expect(r.status).toBe(200);
  expect(env.gce.live('two')).toHaveLength(0);
});

test('a preempted spot node is deleted with its disk (DELETE); the next provision creates it anew', async () => {
  const req = request('resume', { spot: true });
  const h = await provider.provision(req, ctx);
  expect(env.gce.inserts()[0]!.body.scheduling).toMatchObject({
    provisioningModel: 'SPOT',
    instanceTerminationAction: 'DELETE',
  });
  env.gce.preempt(h.nodes[0]!.instanceId);
  expect(await provider.query('resume')).toEqual([]);
  env.gce.requests.length = 0;
  // recovery is a later provision attempt (a repeated requestId would be deduplicated by GCE)
  const again = await provider.provision(req, { ...ctx, attemptId: 'recovery' });
  expect(again.zone).toBe('us-central1-a');
  expect(gceNames('resume')).toEqual([again.nodes[0]!.instanceId]);
  expect(env.gce.inserts()).toHaveLength(1);
  expect(await provider.query('resume', { zones: [again.zone!] })).toEqual([
    { instanceId: again.nodes[0]!.instanceId, state: 'running' },
  ]);
  await provider.terminate('resume');
});

const gceNames = (cluster: string) => env.gce.live(cluster).map((i) => i.name);

test('stop keeps the VMs (TERMINATED, disks kept); start runs the same VMs again; down deletes stopped ones', async () => {
  const h = await provider.provision(request('halt', { numNodes: 2 }), ctx);
  const names = h.nodes.map((n) => n.instanceId);
  expect(provider.stopRefusal(h)).toBeUndefined();
  await provider.stop(h, ctx);
  expect((await provider.query('halt')).map((s) => s.state)).toEqual(['stopped', 'stopped']);
  expect(env.gce.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/stop'))).toHaveLength(2);
  env.gce.requests.length = 0;
  const started = await provider.start(h, ctx);
  expect(started.nodes.map((n) => n.instanceId)).toEqual(names);
  expect(env.gce.inserts()).toHaveLength(0);
  expect((await provider.query('halt')).map((s) => s.state)).toEqual(['running', 'running']);
  await provider.stop(h, ctx);
  await provider.terminate('halt');
  expect(env.gce.live('halt')).toEqual([]);
  expect(provider.stopRefusal({ ...h, offer: { ...h.offer, spot: true } })).toBe(
    'Stopping spot instances is not supported on gcp',
  );
});

test('spot, N1 + T4 and a2-highgpu: scheduling and guestAccelerators as GCP wants them', async () => {
  await provider.provision(
    request('t4spot', { instanceType: 'n1-standard-8', accelerator: { name: 'T4', count: 1 }, spot: true }),
    ctx,
  );
  await provider.provision(
    request('a100', { instanceType: 'a2-highgpu-1g', accelerator: { name: 'A100', count: 1 } }),
    ctx,
  );
  const [t4, a2] = env.gce.inserts();
  expect(t4!.body.guestAccelerators).toEqual([
    { acceleratorType: 'zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4', acceleratorCount: 1 },
  ]);
  expect(t4!.body.scheduling).toMatchObject({
    provisioningModel: 'SPOT',
    instanceTerminationAction: 'DELETE',
    onHostMaintenance: 'TERMINATE',
  });
  expect(a2!.body.machineType).toBe('zones/us-central1-a/machineTypes/a2-highgpu-1g');
  expect(a2!.body.guestAccelerators).toBeUndefined();
  expect(a2!.body.scheduling).toMatchObject({ onHostMaintenance: 'TERMINATE' });
  expect(a2!.body.scheduling.provisioningModel).toBeUndefined();
  await provider.terminate('t4spot');
  await provider.terminate('a100');
  expect(env.gce.live()).toEqual([]);
});

test('no capacity in zone a: zone b is used and nothing stays in a', async () => {
  env.gce.faults['us-central1-a'] = 'capacity';
  const h = await provider.provision(request('cap', {}), ctx);
  expect(h.zone).toBe('us-central1-b');
  expect(env.gce.inserts().map((i) => i.path)).toEqual([
    'zones/us-central1-a/instances',
    'zones/us-central1-b/instances',
  ]);
  expect(env.gce.live('cap').map((i) => i.zone.split('/').pop())).toEqual(['us-central1-b']);
  await provider.terminate('cap');
});

test.each([
  ['capacity', 'capacity', /ZONE_RESOURCE_POOL_EXHAUSTED/],
  ['quota-region', 'quota-region', /QUOTA_EXCEEDED.*NVIDIA_A100_GPUS/],
  ['quota-cloud', 'quota-cloud', /GPUS_ALL_REGIONS/],
  ['rate', 'transient', /Rate Limit Exceeded/],
  ['auth', 'auth', /PERMISSION_DENIED|permission/],
] as const)('fault %s maps to %s', async (fault, cls, message) => {
  env.gce.faults['us-central1-a'] = fault;
  const err = await provider.provision(request(`f-${fault}`, { zones: ['us-central1-a'] }), ctx).then(
    () => undefined,
    (e) => e,
  );
  expect(err).toMatchObject({ name: 'ProviderError', errorClass: cls });
  expect(err.message).toMatch(message);
  await provider.terminate(`f-${fault}`);
  expect(env.gce.live(`f-${fault}`)).toEqual([]);
});

test('ports: a firewall rule per cluster; terminate deletes instances (verified) and the rule', async () => {
  await provider.provision(
    request(
      'web',
      { numNodes: 2 },
      {
        ports: [
          { from: 8080, to: 8080 },
          { from: 9000, to: 9010 },
        ],
      },
    ),
    ctx,
  );
  const fw = env.gce.firewalls.get('skyrun-web-ports');
  expect(fw).toMatchObject({ targetTags: ['web'], allowed: [{ IPProtocol: 'tcp', ports: ['8080', '9000-9010'] }] });
  expect(env.gce.inserts()[0]!.body.tags).toEqual({ items: ['web'] });
  expect((await provider.query('web')).map((s) => s.state)).toEqual(['running', 'running']);
  await provider.terminate('web');
  expect(env.gce.live('web')).toEqual([]);
  expect(env.gce.firewalls.has('skyrun-web-ports')).toBe(false);
  expect(env.gce.firewalls.has('skyrun-web-ssh')).toBe(false);
  expect(await provider.query('web')).toEqual([]);
  await provider.terminate('web'); // twice: "not found" is done
});

describe('end to end: CLI, dev server, worker', () => {
  let sr: SkyrunEnv;

  beforeAll(async () => {
    sr = await SkyrunEnv.create('gcp');
    const config = path.join(sr.home, 'config.yaml');
    writeConfig(config, env.sshd);
    sr.env.SKYRUN_CATALOG_DIR = FIXTURES;
    sr.env.SKYRUN_CONFIG = config;
    sr.env.SKYRUN_GCE_ENDPOINT = env.gce.url;
    // the worker's SkyRun key (SKYRUN_HOME/ssh/skyrun-key) is authorized on the sshd
    process.env.SKYRUN_HOME = sr.home;
    appendFileSync(path.join(env.sshd.dir, 'authorized_keys'), `${skyrunSshKey().publicKey}\n`);
    process.env.SKYRUN_HOME = env.home;
    expect((await sr.run(['server', 'start'])).code).toBe(0);
  });

  afterAll(async () => {
    await sr?.dispose();
  });

  test('no capacity in the cheapest zone: the next zone, the task prints, down leaves nothing', async () => {
    // L4:1 is cheapest in us-east4 (g2-standard-4), zones a then c
    env.gce.faults['us-east4-a'] = 'capacity';
    const r = await sr.run([
      'launch',
      '-y',
      '-c',
      'g1',
      '--infra',
      'gcp',
      '--gpus',
      'L4:1',
      '--',
      'echo hello from $SKYPILOT_NUM_NODES gcp node',
    ]);
    expect(r.stdout).toContain('hello from 1 gcp node');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/✗ gcp\/us-east4\/us-east4-a g2-standard-4: capacity: ZONE_RESOURCE_POOL_EXHAUSTED/);
    expect(r.stderr).toMatch(/✓ gcp\/us-east4\/us-east4-c g2-standard-4/);
    expect(env.gce.live('g1').map((i) => i.zone.split('/').pop())).toEqual(['us-east4-c']);
    expect((await sr.run(['down', '-y', 'g1'])).code).toBe(0);
    expect(env.gce.live('g1')).toEqual([]);
    expect(env.gce.live()).toEqual([]);
  });
});
