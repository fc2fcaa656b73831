/**
 * A launch with neither run nor setup provisions the cluster and exits 0 (SkyPilot's behaviour),
 * submitting no job; `exec` then runs on it. Local file_mounts land under the node folder.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SkyrunEnv } from './helpers/skyrun';

jest.setTimeout(240_000);

let sr: SkyrunEnv;
let dir: string;

beforeAll(async () => {
  sr = await SkyrunEnv.create('provision');
  dir = mkdtempSync(path.join(os.tmpdir(), 'skyrun-provision-'));
});

afterAll(async () => {
  await sr.run(['down', '-y', 'prov-only', 'prov-mounts']);
  await sr.dispose();
});

it('launches a task without run or setup, exits 0 with no job, and exec runs on the cluster', async () => {
  const task = path.join(dir, 'idle.yaml');
  writeFileSync(task, 'name: idle\nresources:\n  infra: local\n');
  const up = await sr.run(['launch', '-y', '-c', 'prov-only', task]);
  expect(up.stderr + up.stdout).toContain("Cluster 'prov-only' is UP");
  expect(up.stdout + up.stderr).toContain('skyrun exec prov-only');
  expect(up.stdout + up.stderr).not.toContain('Submitted job');
  expect(up.code).toBe(0);

  const queue = await sr.run(['queue', 'prov-only']);
  expect(queue.code).toBe(0);
  expect(queue.stdout).not.toMatch(/SUCCEEDED|RUNNING|PENDING/);

  const again = await sr.run(['launch', '-y', '-c', 'prov-only', task]); // an UP cluster: nothing to do
  expect(again.code).toBe(0);

  const ex = await sr.run(['exec', 'prov-only', '--', 'echo', 'exec-ran-here']);
  expect(ex.stdout).toContain('exec-ran-here');
  expect(ex.code).toBe(0);
  const after = await sr.run(['queue', 'prov-only']);
  expect(after.stdout).toMatch(/^\s*1\s/m);
  expect(after.stdout).not.toMatch(/^\s*2\s/m);
});

it('copies local file_mounts under the node folder on local infra', async () => {
  const src = path.join(dir, 'weights.txt');
  writeFileSync(src, 'mounted-content\n');
  const task = path.join(dir, 'mounts.yaml');
  writeFileSync(
    task,
    [
      'resources: {infra: local}',
      'envs: {SUB: data}',
      'file_mounts:',
      `  /\${SUB}/w.txt: ${src}`,
      `  ~/home-copy.txt: ${src}`,
      'run: cat ../data/w.txt ../home-copy.txt',
      '',
    ].join('\n'),
  );
  const r = await sr.run(['launch', '-y', '-c', 'prov-mounts', task]);
  expect(r.stdout.match(/mounted-content/g)).toHaveLength(2);
  expect(r.code).toBe(0);
});
