/**
 * Issue 15, item 3: `--json` on status, queue, jobs queue, show-gpus, check, optimize and
 * launch --dryrun: one JSON document alone on stdout, in the schema the README documents.
 * The real CLI against a real Temporal dev server and worker, on local infra.
 */
import { SkyrunEnv, eventually, type RunResult } from './helpers/skyrun';

let sr: SkyrunEnv;

beforeAll(async () => {
  sr = await SkyrunEnv.create('json');
  expect((await sr.run(['server', 'start'])).code).toBe(0);
  expect((await sr.run(['launch', '-y', '-c', 'j', '--', 'true'])).code).toBe(0);
  expect((await sr.run(['exec', 'j', '--', 'exit 4'])).code).toBe(100);
});

afterAll(async () => {
  await sr?.run(['jobs', 'cancel', '-y', '-a']);
  await sr?.run(['down', '-y', 'j']);
  await sr?.dispose();
});

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

/** The document: stdout is exactly one line of JSON. */
function doc(r: RunResult): any {
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  return JSON.parse(r.stdout);
}

test('status --json: {clusters: [...]}', async () => {
  const r = await sr.run(['status', '--json']);
  expect(r.code).toBe(0);
  expect(doc(r)).toEqual({
    clusters: [
      {
        name: 'j',
        status: 'UP',
        cloud: 'local',
        region: null,
        zone: null,
        numNodes: 1,
        instanceType: expect.stringMatching(/^local-/),
        spot: false,
        hourlyPrice: 0,
        autostop: null,
        launchedAt: ISO,
        cleanupBlocked: false,
        managedJob: null,
      },
    ],
  });
  const missing = await sr.run(['status', '--json', 'nope']);
  expect(missing.code).toBe(1);
  expect(doc(missing)).toEqual({ clusters: [] });
  expect(missing.stderr).toContain("Cluster 'nope' does not exist.");
  expect((await sr.run(['status', '--json', '--endpoints'])).code).toBe(2);
});

test('queue --json: {clusters: [{name, jobs: [...]}]}, newest first', async () => {
  const r = await sr.run(['queue', '--json', 'j']);
  expect(r.code).toBe(0);
  const d = doc(r);
  expect(d.clusters.map((c: { name: string }) => c.name)).toEqual(['j']);
  expect(d.clusters[0].jobs).toEqual([
    {
      id: 2,
      name: null,
      status: 'FAILED',
      exitCode: 4,
      submittedAt: ISO,
      startedAt: ISO,
      endedAt: ISO,
      resources: expect.any(String),
      failureReason: null,
    },
    expect.objectContaining({ id: 1, status: 'SUCCEEDED', exitCode: 0 }),
  ]);
});

test('jobs queue --json: {jobs: [...]}', async () => {
  const empty = await sr.run(['jobs', 'queue', '--json']);
  expect(doc(empty)).toEqual({ jobs: [] });
  const l = await sr.run(['jobs', 'launch', '-y', '-d', '-n', 'jj', '--', 'sleep 120']);
  expect(l.code).toBe(0);
  const row = await eventually(async () => {
    const d = doc(await sr.run(['jobs', 'queue', '--json']));
    return d.jobs[0]?.status === 'RUNNING' && d.jobs[0];
  });
  expect(row).toEqual({
    id: 1,
    name: 'jj',
    status: 'RUNNING',
    resources: expect.stringMatching(/^1x local/),
    startedAt: ISO,
    endedAt: null,
    jobDurationMs: expect.any(Number),
    recoveries: 0,
    failureReason: null,
    submittedAt: ISO,
    totalDurationMs: expect.any(Number),
    cluster: expect.stringMatching(/jj/),
    tasks: null,
  });
  // its cluster is in status --json, marked with its managed job
  const st = doc(await sr.run(['status', '--json']));
  expect(st.clusters).toContainEqual(expect.objectContaining({ name: row.cluster, managedJob: 1, cloud: 'local' }));
  expect((await sr.run(['jobs', 'cancel', '-y', '1'])).code).toBe(0);
  const done = doc(await sr.run(['jobs', 'queue', '--json'])).jobs[0];
  expect(done.status).toBe('CANCELLED');
  expect(done.endedAt).toEqual(ISO);
  expect(done.jobDurationMs).toBeLessThanOrEqual(done.totalDurationMs);
});

test('show-gpus --json: offerings of a name, counts without one', async () => {
  const named = await sr.run(['show-gpus', 'A100:8', '--infra', 'aws', '--json']);
  expect(named.code).toBe(0);
  const offerings = doc(named).offerings;
  expect(offerings.length).toBeGreaterThan(0);
  expect(offerings[0]).toEqual({
    name: 'A100',
    count: 8,
    cloud: 'aws',
    instanceType: expect.any(String),
    deviceMemoryGiB: expect.any(Number),
    vcpus: expect.any(Number),
    memoryGiB: expect.any(Number),
    price: expect.any(Number),
    spotPrice: expect.any(Number),
    region: expect.any(String),
  });
  const all = doc(await sr.run(['show-gpus', '--json']));
  expect(all.accelerators).toContainEqual({ name: 'A100', counts: expect.objectContaining({ aws: [8] }) });
});

test('check --json: {infra: [{name, enabled, reason}]}', async () => {
  const r = await sr.run(['check', '--json', 'local', 'sim']);
  expect(r.code).toBe(0);
  expect(doc(r)).toEqual({
    infra: [
      { name: 'local', enabled: true, reason: null },
      { name: 'sim', enabled: false, reason: expect.stringContaining('sim.yaml') },
    ],
  });
});

test('optimize --json and launch --dryrun --json: {numNodes, offers: [...]}, the first chosen', async () => {
  const o = await sr.run(['optimize', '--json', '--infra', 'aws', '--catalog', '--gpus', 'A100:8', '--', 'true']);
  expect(o.code).toBe(0);
  const d = doc(o);
  expect(d.numNodes).toBe(1);
  expect(d.offers[0]).toEqual({
    cloud: 'aws',
    region: expect.any(String),
    zones: expect.any(Array),
    instanceType: 'p4d.24xlarge',
    spot: false,
    vcpus: 96,
    memoryGiB: expect.any(Number),
    accelerator: { name: 'A100', count: 8 },
    hourlyPrice: expect.any(Number),
    candidate: 0,
    chosen: true,
  });
  expect(d.offers.slice(1).every((x: { chosen: boolean }) => !x.chosen)).toBe(true);
  const dry = await sr.run(['launch', '--dryrun', '--json', '--', 'true']);
  expect(dry.code).toBe(0);
  expect(doc(dry).offers[0]).toEqual(expect.objectContaining({ cloud: 'local', chosen: true }));
  expect((await sr.run(['launch', '--json', '-y', '--', 'true'])).code).toBe(2);
});
