/**
 * Buckets in file_mounts end to end, through the real CLI on the ssh infra (real sshd processes
 * on loopback as nodes), against moto's S3 and fake-gcs-server: COPY of s3:// and gs:// buckets
 * onto every node with the data checked there, a local `source` uploaded to a new bucket and then
 * copied, MOUNT and MOUNT_CACHED with rclone over FUSE (this machine has /dev/fuse) and unmounted
 * at down, the clear messages on nodes without rclone or FUSE, `storage ls` / `storage delete`,
 * `persistent: false` deleted at down, and invalid storage objects refused with file:line.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { startGcsEmulator, type GcsEmulator } from './helpers/gcs-emulator';
import { startMoto, type Moto } from './helpers/moto';
import { makeClientKey, startSshd, type FakeHost } from './helpers/sshd';
import { REPO, SkyrunEnv, eventually } from './helpers/skyrun';

/**
 * SkyRun's own store code (activities/infra/storage) in a child process: jest's module sandbox
 * cannot run the GCS library's dynamic imports. `body` is the body of an async function of `st`
 * (the module); its return value comes back through JSON.
 */
async function stores<T>(body: string): Promise<T> {
  const mod = path.join(REPO, 'dist', 'activities', 'infra', 'storage', 'index.js');
  const code = `const st = require(${JSON.stringify(mod)}); (async (st) => { ${body} })(st).then((v) => process.stdout.write(JSON.stringify(v ?? null)), (e) => { console.error(e); process.exit(1); });`;
  const r = spawnSync(process.execPath, ['-e', code], { env: { ...process.env, ...cloudEnv }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`store operation failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

const MARKER = '.skyrun-storage.json';
let sr: SkyrunEnv;
let moto: Moto;
let gcs: GcsEmulator;
let lab: FakeHost[];
let noRclone: FakeHost;
let noFuse: FakeHost;
let dir: string;
let cloudEnv: Record<string, string>;

beforeAll(async () => {
  moto = await startMoto();
  gcs = await startGcsEmulator();
  const key = makeClientKey();
  lab = [await startSshd({ clientKey: key }), await startSshd({ clientKey: key })];
  noRclone = await startSshd({ clientKey: key, withoutTools: ['rclone'] });
  noFuse = await startSshd({ clientKey: key, env: { SKYRUN_FUSE_DEVICE: '/nonexistent/fuse' } });
  sr = await SkyrunEnv.create('storage');
  cloudEnv = { ...moto.env, AWS_ENDPOINT_URL_S3: moto.direct, ...gcs.env };
  Object.assign(sr.env, cloudEnv);
  const pool = (hosts: FakeHost[]) => ({
    user: 'root',
    identity_file: key,
    hosts: hosts.map((h) => ({ ip: h.host, port: h.port })),
  });
  writeFileSync(
    path.join(sr.home, 'ssh_node_pools.yaml'),
    stringify({ lab: pool(lab), norclone: pool([noRclone]), nofuse: pool([noFuse]) }),
  );
  dir = mkdtempSync(path.join(os.tmpdir(), 'skyrun-storage-task-'));
  // buckets that exist before the launch, not made by SkyRun
  for (const store of ['s3', 'gcs']) {
    const seed = path.join(dir, `seed-${store}.txt`);
    writeFileSync(seed, `${store} seed data\n`);
    await stores(`
      const s = st.storeFor('${store}');
      await s.create('seed-${store}');
      for (const key of ['dir/data.txt', 'dir/deep/more.txt', 'other.txt']) await s.putFile('seed-${store}', key, ${JSON.stringify(seed)});
    `);
  }
  expect((await sr.run(['server', 'start'])).code).toBe(0);
});

afterAll(async () => {
  await sr?.dispose();
  // a test that failed before its down may leave FUSE mounts under the hosts' homes
  for (const h of lab ?? []) {
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const at = line.split(' ')[1];
      if (at?.startsWith(h.home)) spawnSync('fusermount3', ['-uz', at]);
    }
  }
  for (const h of [...(lab ?? []), noRclone, noFuse]) await h?.stop();
  await gcs?.stop();
  await moto?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function taskFile(name: string, task: Record<string, unknown>): string {
  const f = path.join(dir, name);
  writeFileSync(f, stringify(task));
  return f;
}

const mounted = (p: string) => readFileSync('/proc/mounts', 'utf8').includes(` ${p} fuse`);

test('COPY of an s3:// URI and a gs:// storage object lands on every node; a local source goes to a new bucket, copied, listed, and deleted at down (persistent: false)', async () => {
  const src = path.join(dir, 'upload');
  mkdirSync(path.join(src, 'nested'), { recursive: true });
  writeFileSync(path.join(src, 'local.txt'), 'uploaded from here\n');
  writeFileSync(path.join(src, 'nested', 'n.txt'), 'nested file\n');
  const f = taskFile('copy.yaml', {
    name: 'copy',
    envs: { BUCKET: 'skyrun-upload-test' },
    file_mounts: {
      '~/s3data': 's3://seed-s3/dir',
      '~/one/file.txt': 's3://seed-s3/other.txt', // one object: a file
      '~/gs-${BUCKET}': { source: 'gs://seed-gcs', mode: 'COPY' },
      '~/up': { name: '${BUCKET}', source: src, mode: 'COPY', persistent: false },
    },
    run: 'cat ~/s3data/data.txt ~/s3data/deep/more.txt ~/up/local.txt ~/up/nested/n.txt',
  });
  const r = await sr.run(['launch', '-y', '-c', 'cp', '--infra', 'ssh/lab', '--num-nodes', '2', f]);
  expect(r.stderr).toContain('Creating bucket s3://skyrun-upload-test for ~/up');
  expect(r.stderr).toContain(`Uploaded 2 file(s) from ${src} to s3://skyrun-upload-test`);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('s3 seed data');
  expect(r.stdout).toContain('nested file');
  for (const h of lab) {
    // the URI's folder, not the whole bucket; the bucket object's whole bucket; the uploaded folder
    expect(readFileSync(path.join(h.home, 's3data', 'data.txt'), 'utf8')).toBe('s3 seed data\n');
    expect(readFileSync(path.join(h.home, 's3data', 'deep', 'more.txt'), 'utf8')).toBe('s3 seed data\n');
    expect(existsSync(path.join(h.home, 's3data', 'other.txt'))).toBe(false);
    expect(readFileSync(path.join(h.home, 'one', 'file.txt'), 'utf8')).toBe('s3 seed data\n');
    expect(readFileSync(path.join(h.home, 'up', 'local.txt'), 'utf8')).toBe('uploaded from here\n');
    expect(existsSync(path.join(h.home, 'up', MARKER))).toBe(false);
  }
  // ${BUCKET} substituted in the remote path too
  for (const h of lab) {
    const gsDir = path.join(h.home, 'gs-skyrun-upload-test');
    expect(readFileSync(path.join(gsDir, 'other.txt'), 'utf8')).toBe('gcs seed data\n');
    expect(readFileSync(path.join(gsDir, 'dir', 'deep', 'more.txt'), 'utf8')).toBe('gcs seed data\n');
  }

  const ls = await sr.run(['storage', 'ls']);
  expect(ls.code).toBe(0);
  expect(ls.stdout).toMatch(/^skyrun-upload-test\s+S3\s+\S+\s+no\s+cp$/m);
  expect(ls.stdout).not.toContain('seed-s3'); // not SkyRun's

  const down = await sr.run(['down', '-y', 'cp']);
  expect(down.code).toBe(0);
  expect(down.stderr).toContain('Deleted bucket s3://skyrun-upload-test (persistent: false).');
  expect(
    await stores(
      `return [await st.storeFor('s3').exists('skyrun-upload-test'), await st.storeFor('s3').exists('seed-s3')]`,
    ),
  ).toEqual([false, true]);
});

test('MOUNT (S3) and MOUNT_CACHED (GCS) mount with rclone on the node: reads, a cached write reaches the bucket; down unmounts; storage delete removes the bucket', async () => {
  const f = taskFile('mount.yaml', {
    name: 'mount',
    file_mounts: {
      '~/s3mnt': { source: 's3://seed-s3', mode: 'MOUNT' },
      '~/gcsmnt': { name: 'skyrun-cached-test', store: 'gcs', mode: 'MOUNT_CACHED' },
    },
    run: 'cat ~/s3mnt/dir/data.txt; echo written-on-node > ~/gcsmnt/out.txt && echo wrote',
  });
  const r = await sr.run(['launch', '-y', '-c', 'mnt', '--infra', 'ssh/lab', f]);
  expect(r.stderr).toContain('Creating bucket gs://skyrun-cached-test for ~/gcsmnt');
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('s3 seed data');
  expect(r.stdout).toContain('wrote');
  const head = lab[0]!;
  expect(mounted(path.join(head.home, 's3mnt'))).toBe(true);
  expect(mounted(path.join(head.home, 'gcsmnt'))).toBe(true);
  // the write-back cache uploads the file the job wrote
  const written = () => stores<string | null>(`return st.storeFor('gcs').getText('skyrun-cached-test', 'out.txt')`);
  expect(await eventually(written, 30_000)).toBe('written-on-node\n');
  // the credentials went to the node as a 0600 file, removed once mounted
  const confs = path.join(head.home, '.skyrun', 'mounts');
  expect(readFileSync(path.join(confs, 'list'), 'utf8')).toContain(path.join(head.home, 's3mnt'));
  expect(readdirSync(confs).filter((f) => f.endsWith('.conf'))).toEqual([]);

  expect((await sr.run(['down', '-y', 'mnt'])).code).toBe(0);
  expect(mounted(path.join(head.home, 's3mnt'))).toBe(false);
  expect(mounted(path.join(head.home, 'gcsmnt'))).toBe(false);
  // persistent by default: kept at down, listed, deleted only by storage delete
  const ls = await sr.run(['storage', 'ls']);
  expect(ls.stdout).toMatch(/^skyrun-cached-test\s+GCS\s+\S+\s+yes\s+mnt$/m);
  const foreign = await sr.run(['storage', 'delete', '-y', 'seed-gcs']);
  expect(foreign.code).toBe(1);
  expect(foreign.stderr).toContain('gs://seed-gcs was not created by SkyRun; it is not deleted');
  const del = await sr.run(['storage', 'delete', '-y', 'skyrun-cached-test']);
  expect(del.code).toBe(0);
  expect(del.stderr).toContain('Deleted storage skyrun-cached-test (GCS).');
  expect(await stores(`return st.storeFor('gcs').exists('skyrun-cached-test')`)).toBe(false);
  expect((await sr.run(['storage', 'ls'])).stdout).not.toContain('skyrun-cached-test');
});

test('persistent: false buckets go when `launch --down` finishes and when a managed job ends; a managed job copies buckets too', async () => {
  const src = path.join(dir, 'upload-down');
  mkdirSync(src, { recursive: true });
  writeFileSync(path.join(src, 'd.txt'), 'for a short-lived bucket\n');
  const transient = (name: string, bucket: string) =>
    taskFile(`${name}.yaml`, {
      name,
      file_mounts: { '~/short': { name: bucket, store: 'gcs', source: src, mode: 'COPY', persistent: false } },
      run: 'cat ~/short/d.txt',
    });
  const r = await sr.run([
    'launch',
    '-y',
    '--down',
    '-c',
    'dn',
    '--infra',
    'ssh/lab',
    transient('dn', 'skyrun-down-test'),
  ]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('for a short-lived bucket');
  expect(r.stderr).toContain('Deleted bucket gs://skyrun-down-test (persistent: false).');
  const m = await sr.run(['jobs', 'launch', '-y', '--infra', 'ssh/lab', transient('mj', 'skyrun-managed-test')]);
  expect(m.code).toBe(0);
  expect(m.stdout + m.stderr).toContain('for a short-lived bucket');
  expect(m.stderr).toContain('Deleted bucket gs://skyrun-managed-test (persistent: false).');
  const gone = `return [await st.storeFor('gcs').exists('skyrun-down-test'), await st.storeFor('gcs').exists('skyrun-managed-test')]`;
  expect(await stores(gone)).toEqual([false, false]);
  await eventually(async () => !(await sr.run(['status'])).stdout.includes('dn'), 60_000);
});

test('MOUNT on a node without FUSE or without rclone fails the job with a clear message', async () => {
  const f = taskFile('nofuse.yaml', {
    file_mounts: { '/data': { source: 's3://seed-s3', mode: 'MOUNT' } },
    run: 'ls /data',
  });
  const noDevice = await sr.run(['launch', '-y', '-c', 'nofuse', '--infra', 'ssh/nofuse', f]);
  expect(noDevice.code).not.toBe(0);
  const out = noDevice.stdout + noDevice.stderr;
  expect(out).toContain('file_mounts /data: mode MOUNT mounts the bucket with FUSE (rclone mount)');
  expect(out).toContain('the FUSE device (/dev/fuse) on the node');
  expect(out).toContain('use mode: COPY for this file_mounts entry');
  expect(out).not.toContain('secret_access_key');
  const noTool = await sr.run(['launch', '-y', '-c', 'norclone', '--infra', 'ssh/norclone', f]);
  expect(noTool.code).not.toBe(0);
  expect(noTool.stdout + noTool.stderr).toContain('rclone on the node');
  for (const c of ['nofuse', 'norclone']) expect((await sr.run(['down', '-y', c])).code).toBe(0);
});

test('invalid storage objects and unsupported stores are refused with file:line, before anything starts', async () => {
  const bad = path.join(dir, 'bad-mode.yaml');
  writeFileSync(bad, ['file_mounts:', '  /a:', '    name: some-bucket', '    mode: FAST', 'run: ls /a', ''].join('\n'));
  const r1 = await sr.run(['launch', '--dryrun', '--infra', 'ssh/lab', bad]);
  expect(r1.code).toBe(2);
  expect(r1.stderr).toMatch(new RegExp(`${bad}:4:\\d+: file_mounts\\./a\\.mode: .*MOUNT.*COPY.*MOUNT_CACHED`));

  const unsupported = path.join(dir, 'unsupported.yaml');
  writeFileSync(
    unsupported,
    [
      'file_mounts:',
      '  /r2: r2://bucket/path',
      '  /both:',
      '    name: mine',
      '    source: s3://theirs',
      '  /badname:',
      '    name: Not_A_Bucket',
      '  /az:',
      '    name: some-bucket',
      '    store: azure',
      'run: ls /',
      '',
    ].join('\n'),
  );
  const r2 = await sr.run(['launch', '--dryrun', '--infra', 'ssh/lab', unsupported]);
  expect(r2.code).toBe(2);
  expect(r2.stderr).toMatch(new RegExp(`${unsupported}:2:\\d+: file_mounts\\./r2: r2 buckets are not supported yet`));
  expect(r2.stderr).toMatch(
    new RegExp(`${unsupported}:3:\\d+: file_mounts\\./both: name cannot be given with a bucket URI`),
  );
  expect(r2.stderr).toMatch(
    new RegExp(`${unsupported}:6:\\d+: file_mounts\\./badname: "Not_A_Bucket" is not a valid S3 bucket name`),
  );
  expect(r2.stderr).toMatch(
    new RegExp(`${unsupported}:8:\\d+: file_mounts\\./az: azure buckets are not supported yet`),
  );
  expect((await sr.run(['status'])).stdout).not.toMatch(/^sky-/m);
});
