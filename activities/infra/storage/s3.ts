/**
 * S3 buckets through @aws-sdk/client-s3. Credentials come from the SDK's default chain (as for
 * EC2); AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL point it at another endpoint (tests: moto), with
 * path-style addressing there.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type * as S3 from '@aws-sdk/client-s3';
import { ProviderError } from '../../../core/errors';
import { callWith, type ObjectInfo, type ObjectStore } from './store';

const region = () => process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
const endpoint = () => process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;

let clientPromise: Promise<{ c: S3.S3Client; s: typeof S3 }> | undefined;
function client(): Promise<{ c: S3.S3Client; s: typeof S3 }> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
  return (clientPromise ??= import('@aws-sdk/client-s3').then((s) => ({
    s,
    c: new s.S3Client({ region: region(), ...(endpoint() ? { endpoint: endpoint(), forcePathStyle: true } : {}) }),
  })));
}

const notFound = (e: unknown) => {
  const x = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    x?.name === 'NotFound' ||
    x?.name === 'NoSuchBucket' ||
    x?.name === 'NoSuchKey' ||
    x?.$metadata?.httpStatusCode === 404
  );
};

/** An SDK error as a ProviderError naming the bucket (never a credential). */
function fail(what: string, e: unknown): never {
  const x = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = x?.$metadata?.httpStatusCode;
  const kind =
    status === 403 || x?.name === 'AccessDenied' || x?.name === 'CredentialsProviderError' ? 'auth' : 'transient';
  throw new ProviderError(kind, `S3: ${what}: ${x?.name ?? 'error'}: ${x?.message ?? String(e)}`);
}

const call = callWith(fail);

export const s3Store: ObjectStore = {
  kind: 's3',
  scheme: 's3',

  async exists(bucket) {
    const { c, s } = await client();
    try {
      await c.send(new s.HeadBucketCommand({ Bucket: bucket }));
      return true;
    } catch (e) {
      if (notFound(e)) return false;
      fail(`looking up bucket ${bucket}`, e);
    }
  },

  async create(bucket) {
    const { c, s } = await client();
    const r = region();
    try {
      await c.send(
        new s.CreateBucketCommand({
          Bucket: bucket,
          ...(r === 'us-east-1'
            ? {}
            : { CreateBucketConfiguration: { LocationConstraint: r as S3.BucketLocationConstraint } }),
        }),
      );
    } catch (e) {
      if ((e as { name?: string }).name === 'BucketAlreadyOwnedByYou') return;
      fail(`creating bucket ${bucket}`, e);
    }
  },

  async buckets() {
    const { c, s } = await client();
    const r = await call('listing buckets', () => c.send(new s.ListBucketsCommand({})));
    return (r.Buckets ?? []).map((b) => b.Name!).filter(Boolean);
  },

  async list(bucket, prefix) {
    const { c, s } = await client();
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const r = await call(`listing bucket ${bucket}`, () =>
        c.send(new s.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token })),
      );
      for (const o of r.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: Number(o.Size ?? 0) });
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  },

  async putFile(bucket, key, file) {
    const { c, s } = await client();
    const { size } = await import('node:fs/promises').then((f) => f.stat(file));
    await call(`uploading ${key} to bucket ${bucket}`, () =>
      c.send(new s.PutObjectCommand({ Bucket: bucket, Key: key, Body: createReadStream(file), ContentLength: size })),
    );
  },

  async putText(bucket, key, text) {
    const { c, s } = await client();
    await call(`writing ${key} to bucket ${bucket}`, () =>
      c.send(new s.PutObjectCommand({ Bucket: bucket, Key: key, Body: text })),
    );
  },

  async getText(bucket, key) {
    const { c, s } = await client();
    try {
      const r = await c.send(new s.GetObjectCommand({ Bucket: bucket, Key: key }));
      return await r.Body!.transformToString();
    } catch (e) {
      if (notFound(e)) return undefined;
      fail(`reading ${key} from bucket ${bucket}`, e);
    }
  },

  async getFile(bucket, key, file) {
    const { c, s } = await client();
    await call(`downloading ${key} from bucket ${bucket}`, async () => {
      const r = await c.send(new s.GetObjectCommand({ Bucket: bucket, Key: key }));
      await pipeline(r.Body as Readable, createWriteStream(file));
    });
  },

  async remove(bucket) {
    const { c, s } = await client();
    if (!(await this.exists(bucket))) return;
    const keys = (await this.list(bucket, '')).map((o) => o.key);
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000).map((Key) => ({ Key }));
      await call(`emptying bucket ${bucket}`, () =>
        c.send(new s.DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch, Quiet: true } })),
      );
    }
    await call(`deleting bucket ${bucket}`, () => c.send(new s.DeleteBucketCommand({ Bucket: bucket })));
  },

  async rcloneRemote(name) {
    const { c } = await client();
    const creds = await call('reading the AWS credentials', () => c.config.credentials());
    const ep = endpoint();
    return [
      `[${name}]`,
      'type = s3',
      `provider = ${ep ? 'Other' : 'AWS'}`,
      `access_key_id = ${creds.accessKeyId}`,
      `secret_access_key = ${creds.secretAccessKey}`,
      ...(creds.sessionToken ? [`session_token = ${creds.sessionToken}`] : []),
      `region = ${region()}`,
      ...(ep ? [`endpoint = ${ep}`, 'force_path_style = true'] : []),
      '',
    ].join('\n');
  },
};
