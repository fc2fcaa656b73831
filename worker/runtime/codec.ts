/**
 * The payload codec: nobody without SkyRun's key can hand the worker a payload it will act on.
 *
 * - Every payload is sealed: an HMAC-SHA256 over its metadata and data, in the metadata field
 *   `skyrun-seal`. Sealed payloads stay readable, so the Temporal UI can show inputs and results.
 * - A payload that carries a non-empty `secrets` map is AES-256-GCM encrypted instead (which
 *   authenticates it too), so workflow history never holds a secret in plain text.
 * - Decoding a payload that is neither (or whose seal or tag does not verify) yields a marker
 *   object, `{ [UNSEALED]: reason }`; the workflow interceptor (workflows/interceptors.ts) refuses
 *   any workflow input, update, signal or query that carries one, so a process that can reach the
 *   Temporal port cannot make the worker run anything.
 * - Failure messages and stack traces travel as encoded attributes (the failure converter's
 *   `encodeCommonAttributes`), so they are sealed too.
 *
 * The key comes from SKYRUN_CODEC_KEY (base64, 32 bytes) or SKYRUN_HOME/codec.key (created 0600 on
 * first use); the client and every worker of one deployment must share it.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { homePath } from '../../activities/infra/home';
import { UNSEALED } from '../../workflows/contract';

const ENCRYPTED = 'binary/encrypted';
const SEAL = 'skyrun-seal';
const SECRET_MARKER = Buffer.from('"secrets":{"');

export function codecKey(): Buffer {
  const fromEnv = process.env.SKYRUN_CODEC_KEY;
  if (fromEnv) {
    const k = Buffer.from(fromEnv, 'base64');
    if (k.length !== 32) throw new Error('SKYRUN_CODEC_KEY must be 32 bytes, base64-encoded');
    return k;
  }
  const file = homePath('codec.key');
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  chmodSync(file, 0o600);
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} must hold 32 bytes, base64-encoded`);
  return key;
}

/** What a refused payload decodes to: a JSON object the workflow interceptor recognises. */
function unsealedMarker(reason: string): Payload {
  return {
    metadata: { encoding: Buffer.from('json/plain') },
    data: Buffer.from(JSON.stringify({ [UNSEALED]: reason })),
  };
}

export class SealingCodec implements PayloadCodec {
  private readonly macKey: Buffer;

  constructor(private readonly key: Buffer) {
    // a key of its own for the MAC, derived from the deployment key
    this.macKey = createHmac('sha256', key).update('skyrun payload seal v1').digest();
  }

  private mac(p: Payload): Buffer {
    const h = createHmac('sha256', this.macKey);
    const names = Object.keys(p.metadata ?? {})
      .filter((k) => k !== SEAL)
      .sort();
    for (const k of names) {
      h.update(`${k}=${Buffer.from(p.metadata![k]!).toString('base64')}\n`);
    }
    h.update('\n');
    h.update(Buffer.from(p.data ?? []));
    return h.digest();
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (p.data && Buffer.from(p.data).indexOf(SECRET_MARKER) >= 0) return this.encrypt(p);
      const metadata = { ...(p.metadata ?? {}) };
      delete metadata[SEAL];
      const out: Payload = { ...p, metadata };
      out.metadata![SEAL] = this.mac(out);
      return out;
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const encoding = Buffer.from(p.metadata?.encoding ?? []).toString();
      if (encoding === ENCRYPTED) return this.decrypt(p);
      const seal = p.metadata?.[SEAL];
      if (!seal) return unsealedMarker('the payload is not sealed with SkyRun key');
      const want = this.mac(p);
      const got = Buffer.from(seal);
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        return unsealedMarker('the payload seal does not verify with this deployment key');
      }
      const metadata = { ...p.metadata };
      delete metadata[SEAL];
      return { ...p, metadata };
    });
  }

  private encrypt(p: Payload): Payload {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const inner = Buffer.from(
      JSON.stringify({ metadata: encodeMeta(p.metadata), data: Buffer.from(p.data ?? []).toString('base64') }),
    );
    const data = Buffer.concat([iv, cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
    return { metadata: { encoding: Buffer.from(ENCRYPTED) }, data };
  }

  private decrypt(p: Payload): Payload {
    const buf = Buffer.from(p.data ?? []);
    if (buf.length < 28) return unsealedMarker('an encrypted payload too short to be SkyRun one');
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, buf.subarray(0, 12));
      decipher.setAuthTag(buf.subarray(buf.length - 16));
      plain = Buffer.concat([decipher.update(buf.subarray(12, buf.length - 16)), decipher.final()]);
    } catch {
      return unsealedMarker('an encrypted payload that this deployment key (SKYRUN_CODEC_KEY / codec.key) cannot open');
    }
    const inner = JSON.parse(plain.toString()) as { metadata: Record<string, string>; data: string };
    return { metadata: decodeMeta(inner.metadata), data: Buffer.from(inner.data, 'base64') };
  }
}

function encodeMeta(m: Payload['metadata']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) if (v) out[k] = Buffer.from(v).toString('base64');
  return out;
}

function decodeMeta(m: Record<string, string>): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(m)) out[k] = Buffer.from(v, 'base64');
  return out;
}

/** The failure converter's module (also bundled into the workflow code; see scripts/bundle-workflows.ts). */
export const FAILURE_CONVERTER_PATH = require.resolve('../../workflows/contract/failure-converter');

/** The data converter every SkyRun client and worker uses. */
export function dataConverter(key: Buffer = codecKey()): DataConverter {
  return { payloadCodecs: [new SealingCodec(key)], failureConverterPath: FAILURE_CONVERTER_PATH };
}
