/**
 * Bucket file_mounts in the task (core/task/storage.ts): what each form becomes (store, bucket,
 * prefix, mode, created by SkyRun or not, persistent), SkyPilot's defaults (storage objects
 * MOUNT, URIs COPY, persistent true), `${VAR}` from envs in file_mounts values, what is refused
 * at launch, and the encoding a bucket mount travels in to the workers.
 */
import {
  bucketMounts,
  decodeBucketMount,
  encodeBucketMount,
  parseBucketUri,
  type BucketMount,
} from '../../core/task/storage';
import { applyOverrides, checkLaunchable, parseTask, substituteEnvs } from '../../core/task';

const task = (yaml: string) => substituteEnvs(parseTask(yaml, 't.yaml'));

test('URIs and storage objects become bucket mounts with SkyPilot defaults', () => {
  const t = task(
    [
      'name: train',
      'resources: {infra: gcp}',
      'file_mounts:',
      '  /local: ./data',
      '  /uri: s3://my-bucket/some/dir/',
      '  /obj: {source: gs://other-bucket/x, mode: MOUNT_CACHED}',
      '  /named: {name: existing-bucket, store: s3}',
      '  /upload: {name: new-bucket, source: ./data, mode: COPY, persistent: false}',
      '  /noname: {source: ./data}',
      'run: ls',
    ].join('\n'),
  );
  const { mounts, issues } = bucketMounts(t);
  expect(issues).toEqual([]);
  const by = Object.fromEntries(mounts.map((m) => [m.remote, m]));
  expect(Object.keys(by)).toEqual(['/uri', '/obj', '/named', '/upload', '/noname']);
  expect(by['/uri']).toEqual({
    remote: '/uri',
    store: 's3',
    bucket: 'my-bucket',
    prefix: 'some/dir',
    mode: 'COPY',
    managed: false,
    persistent: true,
  });
  expect(by['/obj']).toMatchObject({
    store: 'gcs',
    bucket: 'other-bucket',
    prefix: 'x',
    managed: false,
  });
  expect(by['/obj']!.mode).toBe('MOUNT_CACHED');
  expect(by['/named']).toMatchObject({ store: 's3', bucket: 'existing-bucket', mode: 'MOUNT', managed: true });
  expect(by['/upload']).toMatchObject({ bucket: 'new-bucket', source: './data', mode: 'COPY', persistent: false });
  // no name: a generated one; no store: the task's cloud's (gcp -> GCS)
  expect(by['/noname']!.store).toBe('gcs');
  expect(by['/noname']!.bucket).toMatch(/^skyrun-train-[0-9a-f]{8}$/);
});

test('${VAR} from envs (and --env) is substituted in file_mounts values: URIs, name, source', () => {
  const t = parseTask(
    [
      'envs: {BUCKET: from-yaml, DIR: d}',
      'file_mounts:',
      '  /a: s3://${BUCKET}/${DIR}',
      `  /b: {name: '\${BUCKET}-ckpt', mode: COPY}`,
      '  /c: {source: gs://$BUCKET}',
      'run: ls',
    ].join('\n'),
    't.yaml',
  );
  const sub = substituteEnvs(applyOverrides(t, { envs: { BUCKET: 'from-flag' } }));
  const by = Object.fromEntries(bucketMounts(sub).mounts.map((m) => [m.remote, m]));
  expect([by['/a']!.bucket, by['/a']!.prefix]).toEqual(['from-flag', 'd']);
  expect(by['/b']!.bucket).toBe('from-flag-ckpt');
  expect(by['/c']!.bucket).toBe('from-flag');
});

test('unsupported stores, a name with a URI source, bad bucket names and source lists are refused at launch with file:line', () => {
  const t = task(
    [
      'file_mounts:',
      '  /r2: r2://b/p',
      '  /az: https://acct.blob.core.windows.net/c',
      '  /both: {name: mine, source: s3://theirs}',
      '  /bad: {name: Bad_Bucket}',
      '  /list: {name: ok-bucket, source: [./a, ./b]}',
      '  /nebius: {name: ok-bucket, store: nebius}',
      '  /gcs-underscore: {name: ok_for_gcs, store: gcs}',
      'run: ls',
    ].join('\n'),
  );
  const issues = checkLaunchable(t, {});
  expect(issues.map((i) => [i.field, i.line])).toEqual([
    ['file_mounts./r2', 2],
    ['file_mounts./az', 3],
    ['file_mounts./both', 4],
    ['file_mounts./bad', 5],
    ['file_mounts./list', 6],
    ['file_mounts./nebius', 7],
  ]);
  expect(issues[0]!.message).toMatch(/^r2 buckets are not supported yet/);
  expect(issues[1]!.message).toMatch(/^azure buckets are not supported yet/);
  expect(issues[2]!.message).toContain('name cannot be given with a bucket URI as source');
  expect(issues[3]!.message).toContain('"Bad_Bucket" is not a valid S3 bucket name');
  expect(issues[4]!.message).toContain('a list of sources is not supported yet');
  expect(issues[5]!.message).toMatch(/^nebius buckets are not supported yet/);
});

test('a bucket mount round-trips through its encoding; local paths do not decode', () => {
  const m: BucketMount = {
    remote: '~/x',
    store: 'gcs',
    bucket: 'b-1',
    prefix: 'p/q',
    mode: 'MOUNT',
    managed: true,
    persistent: false,
  };
  expect(decodeBucketMount('~/x', encodeBucketMount(m))).toEqual({
    remote: '~/x',
    store: 'gcs',
    bucket: 'b-1',
    prefix: 'p/q',
    mode: 'MOUNT',
  });
  expect(decodeBucketMount('~/x', '/home/me/data')).toBeUndefined();
  expect(parseBucketUri('./data')).toBeUndefined();
  expect(parseBucketUri('gs://b')).toEqual({ store: 'gcs', bucket: 'b', prefix: '' });
});
