/**
 * `skyrun stop` and `skyrun start` on the sim infra, through the real CLI, dev server and
 * worker: stopping stops the instances (the sim's console lists them `stopped`), starting runs
 * the same instances again and jobs run there, down of a stopped cluster terminates them, and a
 * spot cluster's stop is refused before anything changes.
 */
import { readSimInstances } from '../activities/infra/clouds/sim';
import { SkyrunEnv, eventually } from './helpers/skyrun';
import { simEnv } from './helpers/sim';

let sr: SkyrunEnv;

beforeAll(async () => {
  sr = await simEnv('stopstart');
  expect((await sr.run(['server', 'start'])).code).toBe(0);
});

afterAll(async () => {
  await sr?.dispose();
});

const instancesOf = (cluster: string) => readSimInstances(sr.home).filter((i) => i.cluster === cluster);
const statesOf = (cluster: string) => instancesOf(cluster).map((i) => `${i.id}:${i.state}`);

test('stop leaves the instances stopped; start runs the same ones and jobs run; down terminates them', async () => {
  const launch = await sr.run(['launch', '-y', '-c', 'ss', '--infra', 'sim', '--num-nodes', '2', '--', 'echo up']);
  expect(launch.stdout).toContain('up');
  expect(launch.code).toBe(0);
  const ids = instancesOf('ss').map((i) => i.id);
  expect(ids).toHaveLength(2);
  // a long job is running when the cluster stops: it is cancelled, its processes die
  expect((await sr.run(['exec', '-d', 'ss', '--', 'sleep 600'])).code).toBe(0);
  await eventually(async () => /^2\s.*RUNNING$/m.test((await sr.run(['queue', 'ss'])).stdout));

  const stop = await sr.run(['stop', '-y', 'ss']);
  expect(stop.stderr).toContain("Cluster 'ss': STOPPED");
  expect(stop.code).toBe(0);
  expect(statesOf('ss')).toEqual(ids.map((id) => `${id}:stopped`));
  const ls = await sr.run(['sim', 'ls']);
  for (const id of ids) expect(ls.stdout).toMatch(new RegExp(`^${id}\\s+ss\\s.*stopped$`, 'm'));
  expect((await sr.run(['status'])).stdout).toMatch(/^ss\s.*STOPPED/m);
  expect((await sr.run(['queue', 'ss'])).stdout).toMatch(/^2\s.*CANCELLED/m);
  const refused = await sr.run(['exec', 'ss', '--', 'echo no']);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain('STOPPED');

  const start = await sr.run(['start', 'ss']);
  expect(start.stderr).toContain("Cluster 'ss': UP");
  expect(start.code).toBe(0);
  expect(statesOf('ss')).toEqual(ids.map((id) => `${id}:running`));
  expect((await sr.run(['status'])).stdout).toMatch(/^ss\s.*UP/m);
  const exec = await sr.run(['exec', 'ss', '--', 'echo again on $SKYPILOT_NUM_NODES nodes']);
  expect(exec.stdout).toContain('again on 2 nodes');
  expect(exec.code).toBe(0);

  expect((await sr.run(['stop', '-y', 'ss'])).code).toBe(0);
  expect(statesOf('ss')).toEqual(ids.map((id) => `${id}:stopped`));
  expect((await sr.run(['down', '-y', 'ss'])).code).toBe(0);
  expect(statesOf('ss')).toEqual(ids.map((id) => `${id}:terminated`));
  expect((await sr.run(['sim', 'ls'])).stdout).not.toContain('ss');
});

test('a spot cluster cannot be stopped: the stop fails with the reason and the cluster stays UP', async () => {
  const launch = await sr.run(['launch', '-y', '-c', 'spotc', '--infra', 'sim', '--use-spot', '--', 'true']);
  expect(launch.code).toBe(0);
  const before = statesOf('spotc');
  expect(before).toHaveLength(1);
  const stop = await sr.run(['stop', '-y', 'spotc']);
  expect(stop.code).toBe(1);
  expect(stop.stderr).toContain('Stopping spot instances is not supported on sim');
  expect(stop.stderr).toContain('skyrun down spotc');
  expect(statesOf('spotc')).toEqual(before);
  expect(before[0]).toMatch(/:running$/);
  expect((await sr.run(['status'])).stdout).toMatch(/^spotc\s.*UP/m);
  expect((await sr.run(['exec', 'spotc', '--', 'echo still up'])).stdout).toContain('still up');
  expect((await sr.run(['down', '-y', 'spotc'])).code).toBe(0);
  expect(statesOf('spotc')).toEqual(before.map((s) => s.replace(/running$/, 'terminated')));
});
