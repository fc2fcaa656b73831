/**
 * The payload codec that keeps task secrets out of workflow history in plain text.
 * A payload that carries a non-empty `secrets` map is AES-256-GCM encrypted; the others stay
 * readable so the Temporal UI can show inputs and summaries. The key comes from
 * SKYRUN_CODEC_KEY (base64, 32 bytes) or SKYRUN_HOME/codec.key (created 0600 on first use);
 * the client and every worker must share it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { homePath } from '../../activities/infra/home';

const ENCODING = 'binary/encrypted';
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
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
}

export class SecretsCodec implements PayloadCodec {
  constructor(private readonly key: Buffer) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (!p.data || Buffer.from(p.data).indexOf(SECRET_MARKER) < 0) return p;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', this.key, iv);
      const inner = Buffer.from(
        JSON.stringify({ metadata: encodeMeta(p.metadata), data: Buffer.from(p.data).toString('base64') }),
      );
      const data = Buffer.concat([iv, cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { encoding: Buffer.from(ENCODING) }, data };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (Buffer.from(p.metadata?.encoding ?? []).toString() !== ENCODING || !p.data) return p;
      const buf = Buffer.from(p.data);
      const decipher = createDecipheriv('aes-256-gcm', this.key, buf.subarray(0, 12));
      decipher.setAuthTag(buf.subarray(buf.length - 16));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(buf.subarray(12, buf.length - 16)), decipher.final()]);
      } catch {
        throw new Error('cannot decrypt a SkyRun payload: the codec key (SKYRUN_CODEC_KEY / codec.key) differs');
      }
      const inner = JSON.parse(plain.toString()) as { metadata: Record<string, string>; data: string };
      return { metadata: decodeMeta(inner.metadata), data: Buffer.from(inner.data, 'base64') };
    });
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

export function dataConverter() {
  return { payloadCodecs: [new SecretsCodec(codecKey())] };
}
