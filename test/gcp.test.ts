/**
 * The gcp provider against a loopback Compute Engine (test/helpers/fake-gce.ts, the REST shapes
 * of compute v1) with the real @google-cloud/compute client, and a real sshd for SSH readiness
 * (reached through the configured ssh_proxy_command). Then end to end: the real CLI, dev server
 * and worker launch on GCP, fail over from a zone without capacity, run the task and tear down.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Offer } from '../core/offers';
import { GcpProvider, gcpError } from '../activities/infra/clouds/gcp';
import type { ProvisionContext, ProvisionRequest } from '../activities/infra/clouds/provider';
import { closeAllSsh } from '../activities/infra/runners/ssh';
import { skyrunSshKey } from '../activities/infra/settings';
import { startFakeGce, type FakeGce } from './helpers/fake-gce';
import { FIXTURES } from './helpers/sim';
import { SkyrunEnv } from './helpers/skyrun';
import { startSshd, type FakeHost } from './helpers/sshd';

let gce: FakeGce;
let sshd: FakeHost;
let home: string;
const saved = { ...process.env };
const provider = new GcpProvider();

const ctx: ProvisionContext & { beats: string[][] } = {
  beats: [],
  attemptId: '',
  heartbeat(ids) {
    ctx.beats.push(ids);
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 200))),
};

/** SkyRun config pointing SSH at the loopback sshd whatever address the instance has. */
function writeConfig(file: string, host: FakeHost): void {
  writeFileSync(
    file,
    [
      'gcp:',
      '  project: test-project',
      '  ssh_user: root',
      `  ssh_proxy_command: "bash -c 'exec 3<>/dev/tcp/${host.host}/${host.port}; cat <&3 & cat >&3'"`,
      '',
    ].join('\n'),
  );
}

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-gcp-'));
  process.env.SKYRUN_HOME = home;
  process.env.SKYRUN_CONFIG = path.join(home, 'config.yaml');
  process.env.SKYRUN_CATALOG_DIR = FIXTURES;
  gce = await startFakeGce();
  process.env.SKYRUN_GCE_ENDPOINT = gce.url;
  sshd = await startSshd();
  appendFileSync(path.join(sshd.dir, 'authorized_keys'), `${skyrunSshKey().publicKey}\n`);
  writeConfig(process.env.SKYRUN_CONFIG, sshd);
});

afterAll(async () => {
  await closeAllSsh();
  await gce?.stop();
  await sshd?.stop();
  process.env = saved;
  rmSync(home, { recursive: true, force: true });
});

beforeEach(() => {
  for (const z of Object.keys(gce.faults)) delete gce.faults[z];
  gce.requests.length = 0;
  ctx.beats.length = 0;
});

function offer(o: Partial<Offer>): Offer {
  return {
    cloud: 'gcp',
    region: 'us-central1',
    zones: ['us-central1-a', 'us-central1-b'],
    instanceType: 'n2-standard-8',
    spot: false,
    hourlyPrice: 0.38847,
    numNodes: 1,
    vcpus: 8,
    memoryGiB: 32,
    candidate: 0,
    ...o,
  };
}

function request(cluster: string, o: Partial<Offer>, extra: Partial<ProvisionRequest> = {}): ProvisionRequest {
  return { clusterName: cluster, offer: offer(o), offerKey: `cluster/${cluster}#0`, labels: {}, ...extra };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('check: enabled with an endpoint and a project; a one-line reason without credentials', async () => {
  expect(await provider.check()).toEqual({ enabled: true });
  const { SKYRUN_GCE_ENDPOINT } = process.env;
  try {
    delete process.env.SKYRUN_GCE_ENDPOINT;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = path.join(home, 'missing.json');
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
    `/dev/tcp/${sshd.host}/${sshd.port}`,
  );
  const inserts = gce.inserts();
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
  expect(gce.inserts()).toHaveLength(2);
  expect(gce.live('two')).toHaveLength(2);

  // the same requestId sent twice (a lost response) is one instance
  await provider.terminate('two');
  const r = await fetch(
    `${gce.url}/compute/v1/projects/test-project/zones/us-central1-a/instances?requestId=${inserts[0]!.query.requestId}`,
    {
      method: 'POST',
      body: JSON.stringify(inserts[0]!.body),
    },
  );
  expect(r.status).toBe(200);
  expect(gce.live('two')).toHaveLength(0);
});

test('a stopped (preempted) node is started again, not replaced', async () => {
  const req = request('resume', { spot: true });
  const h = await provider.provision(req, ctx);
  gce.preempt(h.nodes[0]!.instanceId);
  expect(await provider.query('resume')).toEqual([
    { instanceId: h.nodes[0]!.instanceId, state: 'stopped', reason: 'preempted' },
  ]);
  gce.requests.length = 0;
  const again = await provider.provision(req, ctx);
  expect(again.nodes[0]!.instanceId).toBe(h.nodes[0]!.instanceId);
  expect(gce.inserts()).toHaveLength(0);
  expect(gce.requests.some((r) => r.method === 'POST' && r.path.endsWith('/start'))).toBe(true);
  expect(await provider.query('resume')).toEqual([{ instanceId: h.nodes[0]!.instanceId, state: 'running' }]);
  await provider.terminate('resume');
});

test('stop keeps the VMs (TERMINATED, disks kept); start runs the same VMs again; down deletes stopped ones', async () => {
  const h = await provider.provision(request('halt', { numNodes: 2 }), ctx);
  const names = h.nodes.map((n) => n.instanceId);
  expect(provider.stopRefusal(h)).toBeUndefined();
  await provider.stop(h, ctx);
  expect((await provider.query('halt')).map((s) => s.state)).toEqual(['stopped', 'stopped']);
  expect(gce.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/stop'))).toHaveLength(2);
  gce.requests.length = 0;
  const started = await provider.start(h, ctx);
  expect(started.nodes.map((n) => n.instanceId)).toEqual(names);
  expect(gce.inserts()).toHaveLength(0);
  expect((await provider.query('halt')).map((s) => s.state)).toEqual(['running', 'running']);
  await provider.stop(h, ctx);
  await provider.terminate('halt');
  expect(gce.live('halt')).toEqual([]);
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
  const [t4, a2] = gce.inserts();
  expect(t4!.body.guestAccelerators).toEqual([
    { acceleratorType: 'zones/us-central1-a/acceleratorTypes/nvidia-tesla-t4', acceleratorCount: 1 },
  ]);
  expect(t4!.body.scheduling).toMatchObject({
    provisioningModel: 'SPOT',
    instanceTerminationAction: 'STOP',
    onHostMaintenance: 'TERMINATE',
  });
  expect(a2!.body.machineType).toBe('zones/us-central1-a/machineTypes/a2-highgpu-1g');
  expect(a2!.body.guestAccelerators).toBeUndefined();
  expect(a2!.body.scheduling).toMatchObject({ onHostMaintenance: 'TERMINATE' });
  expect(a2!.body.scheduling.provisioningModel).toBeUndefined();
  await provider.terminate('t4spot');
  await provider.terminate('a100');
  expect(gce.live()).toEqual([]);
});

test('no capacity in zone a: zone b is used and nothing stays in a', async () => {
  gce.faults['us-central1-a'] = 'capacity';
  const h = await provider.provision(request('cap', {}), ctx);
  expect(h.zone).toBe('us-central1-b');
  expect(gce.inserts().map((i) => i.path)).toEqual(['zones/us-central1-a/instances', 'zones/us-central1-b/instances']);
  expect(gce.live('cap').map((i) => i.zone.split('/').pop())).toEqual(['us-central1-b']);
  await provider.terminate('cap');
});

test.each([
  ['capacity', 'capacity', /ZONE_RESOURCE_POOL_EXHAUSTED/],
  ['quota-region', 'quota-region', /QUOTA_EXCEEDED.*NVIDIA_A100_GPUS/],
  ['quota-cloud', 'quota-cloud', /GPUS_ALL_REGIONS/],
  ['rate', 'transient', /Rate Limit Exceeded/],
  ['auth', 'auth', /PERMISSION_DENIED|permission/],
] as const)('fault %s maps to %s', async (fault, cls, message) => {
  gce.faults['us-central1-a'] = fault;
  const err = await provider.provision(request(`f-${fault}`, { zones: ['us-central1-a'] }), ctx).then(
    () => undefined,
    (e) => e,
  );
  expect(err).toMatchObject({ name: 'ProviderError', errorClass: cls });
  expect(err.message).toMatch(message);
  await provider.terminate(`f-${fault}`);
  expect(gce.live(`f-${fault}`)).toEqual([]);
});

test('the error table: operation codes, HTTP reasons, statuses, network errors', () => {
  const cls = (e: unknown) => gcpError(e).errorClass;
  expect(cls({ errors: [{ code: 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS', message: 'x' }] })).toBe('capacity');
  expect(cls({ errors: [{ code: 'UNSUPPORTED_OPERATION', message: 'x' }] })).toBe('capacity');
  expect(
    cls({ errors: [{ code: 'QUOTA_EXCEEDED', message: "Quota 'CPUS' exceeded. Limit: 24.0 in region us-central1." }] }),
  ).toBe('quota-region');
  expect(cls({ errors: [{ code: 'QUOTA_EXCEEDED', message: "Quota 'GPUS_ALL_REGIONS' exceeded." }] })).toBe(
    'quota-cloud',
  );
  expect(cls({ errors: [{ code: 'RESOURCE_OPERATION_RATE_EXCEEDED', message: 'x' }] })).toBe('transient');
  expect(cls({ response: { status: 401, data: { error: { message: 'bad token' } } } })).toBe('auth');
  expect(cls({ response: { status: 503, data: { error: { message: 'down' } } } })).toBe('transient');
  expect(
    cls({
      response: {
        status: 400,
        data: { error: { errors: [{ reason: 'invalid' }], message: "Invalid value for field 'resource.machineType'" } },
      },
    }),
  ).toBe('invalid');
  expect(cls(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('transient');
  expect(cls(new Error('something else'))).toBe('unknown');
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
  const fw = gce.firewalls.get('skyrun-web-ports');
  expect(fw).toMatchObject({ targetTags: ['web'], allowed: [{ IPProtocol: 'tcp', ports: ['8080', '9000-9010'] }] });
  expect(gce.inserts()[0]!.body.tags).toEqual({ items: ['web'] });
  expect((await provider.query('web')).map((s) => s.state)).toEqual(['running', 'running']);
  await provider.terminate('web');
  expect(gce.live('web')).toEqual([]);
  expect(gce.firewalls.has('skyrun-web-ports')).toBe(false);
  expect(await provider.query('web')).toEqual([]);
  await provider.terminate('web'); // twice: "not found" is done
});

describe('end to end: CLI, dev server, worker', () => {
  let sr: SkyrunEnv;

  beforeAll(async () => {
    sr = await SkyrunEnv.create('gcp');
    const config = path.join(sr.home, 'config.yaml');
    writeConfig(config, sshd);
    sr.env.SKYRUN_CATALOG_DIR = FIXTURES;
    sr.env.SKYRUN_CONFIG = config;
    sr.env.SKYRUN_GCE_ENDPOINT = gce.url;
    // the worker's SkyRun key (SKYRUN_HOME/ssh/skyrun-key) is authorized on the sshd
    process.env.SKYRUN_HOME = sr.home;
    appendFileSync(path.join(sshd.dir, 'authorized_keys'), `${skyrunSshKey().publicKey}\n`);
    process.env.SKYRUN_HOME = home;
    expect((await sr.run(['server', 'start'])).code).toBe(0);
  });

  afterAll(async () => {
    await sr?.dispose();
  });

  test('no capacity in the cheapest zone: the next zone, the task prints, down leaves nothing', async () => {
    // L4:1 is cheapest in us-east4 (g2-standard-4), zones a then c
    gce.faults['us-east4-a'] = 'capacity';
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
    expect(gce.live('g1').map((i) => i.zone.split('/').pop())).toEqual(['us-east4-c']);
    expect((await sr.run(['down', '-y', 'g1'])).code).toBe(0);
    expect(gce.live('g1')).toEqual([]);
    expect(gce.live()).toEqual([]);
  });
});
