/**
 * Failover across clouds, end to end: the cheapest place is a GCP region whose zones have no
 * capacity (a loopback server speaking the Compute REST API), so the launch fails over to an
 * AWS region (moto's EC2 emulator); the nodes of both are reached through ssh_proxy_command at
 * a loopback sshd, so setup and run really execute.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { closeAllSsh } from '../activities/infra/runners/ssh';
import { skyrunSshKey } from '../activities/infra/settings';
import { startFakeGce, type FakeGce } from './helpers/fake-gce';
import { startMoto, type Moto } from './helpers/moto';
import { FIXTURES } from './helpers/sim';
import { SkyrunEnv } from './helpers/skyrun';
import { startSshd, type FakeHost } from './helpers/sshd';

let sr: SkyrunEnv;
let gce: FakeGce;
let moto: Moto;
let host: FakeHost;

beforeAll(async () => {
  sr = await SkyrunEnv.create('xcloud');
  const ours = process.env.SKYRUN_HOME;
  process.env.SKYRUN_HOME = sr.home; // the worker's SkyRun key, authorized on the sshd
  const key = skyrunSshKey().privateKey;
  process.env.SKYRUN_HOME = ours;
  host = await startSshd({ clientKey: key });
  [gce, moto] = await Promise.all([startFakeGce(), startMoto()]);
  const proxy = `bash -c 'exec 3<>/dev/tcp/${host.host}/${host.port}; cat <&3 & cat >&3'`;
  const config = path.join(sr.home, 'config.yaml');
  writeFileSync(
    config,
    stringify({
      aws: { ssh_proxy_command: proxy, ssh_user: 'root' },
      gcp: { ssh_proxy_command: proxy, ssh_user: 'root', project: 'test-project' },
    }),
  );
  sr.env = {
    ...sr.env,
    ...moto.env,
    SKYRUN_GCE_ENDPOINT: gce.url,
    SKYRUN_CATALOG_DIR: FIXTURES,
    SKYRUN_CONFIG: config,
  };
  expect((await sr.run(['server', 'start'])).code).toBe(0);
});

afterAll(async () => {
  await sr?.dispose();
  await closeAllSsh();
  await Promise.all([gce?.stop(), moto?.stop(), host?.stop()]);
});

test('no capacity in the GCP zones: the launch fails over to an AWS region and runs there', async () => {
  const check = await sr.run(['check', 'aws', 'gcp']);
  expect(check.stdout).toMatch(/^aws\s+enabled/m);
  expect(check.stdout).toMatch(/^gcp\s+enabled/m);
  const task = path.join(sr.home, 'xcloud.yaml');
  writeFileSync(
    task,
    stringify({
      resources: {
        accelerators: 'T4:1',
        ordered: [{ infra: 'gcp/us-east4' }, { infra: 'aws/us-east-1' }],
      },
      setup: 'echo "setup on $(echo $SKYPILOT_CLUSTER_INFO)"',
      run: 'echo "ran on $(echo $SKYPILOT_CLUSTER_INFO)"',
    }),
  );
  for (const z of ['us-east4-a', 'us-east4-c']) gce.faults[z] = 'capacity';
  const r = await sr.run(['launch', '-y', '-c', 'xc', task]);
  expect(r.stderr).toMatch(/✗ gcp\/us-east4\/us-east4-a \S+: capacity: ZONE_RESOURCE_POOL_EXHAUSTED/);
  expect(r.stderr).toMatch(/✗ gcp\/us-east4\/us-east4-c \S+: capacity/);
  expect(r.stderr).toMatch(/✓ aws\/us-east-1\/use1-az\d g4dn\.xlarge/);
  expect(r.stdout).toContain('"cloud":"aws","region":"us-east-1"');
  expect(r.stdout).toMatch(/^setup on .*"cloud":"aws"/m);
  expect(r.code).toBe(0);
  expect(gce.live()).toEqual([]);
  expect((await sr.run(['down', '-y', 'xc'])).code).toBe(0);
});
