/**
 * SSH host keys, trusted on first use per cluster node. The first contact with a node records
 * its key in SKYRUN_HOME/ssh/known_hosts/<cluster> (OpenSSH's known_hosts format, one line per
 * node under a HostKeyAlias, so `ssh <cluster>` through SkyRun's ssh config checks the same
 * record); a different key later is refused as a 'config' error that names both fingerprints and
 * how to clear the record. A fingerprint pinned in the pool file is enforced from the first
 * contact. Records are kept per cluster and node (instance id, or a pool host's ip:port), so a new
 * instance that reuses an IP starts afresh; tearing a cluster down removes its file. A node
 * without an identity (a handle from before) is recorded by address in `_by-address`.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { ClusterHandle, RunnerSpec } from '../../../core/cluster';
import { ProviderError } from '../../../core/errors';
import { homePath } from '../home';

type SshSpec = Extract<RunnerSpec, { kind: 'ssh' }>;

/** Cluster names start with a letter: this file name is never a cluster's. */
const BY_ADDRESS = '_by-address';

export function knownHostsDir(): string {
  return homePath('ssh', 'known_hosts');
}

export interface HostKeyRecord {
  /** the known_hosts file (UserKnownHostsFile) */
  file: string;
  /** the node's name in it (HostKeyAlias) */
  alias: string;
  /** a pinned SHA256:... fingerprint */
  pinned?: string;
}

/** A name as a file name and alias word: never a path, `.` or `..`, nor our `_by-address`. */
function token(s: string): string {
  const safe = s.replace(/[^A-Za-z0-9._-]/g, '-');
  return /^[A-Za-z0-9]/.test(safe) ? safe : `-${safe}`;
}

export function hostKeyRecord(spec: SshSpec): HostKeyRecord {
  const id = spec.hostKey;
  if (!id) return { file: path.join(knownHostsDir(), BY_ADDRESS), alias: `${token(spec.host)}-${spec.port}.skyrun` };
  return {
    file: path.join(knownHostsDir(), token(id.cluster)),
    alias: `${token(id.node)}.${token(id.cluster)}.skyrun`,
    pinned: id.fingerprint,
  };
}

/** `SHA256:...` as `ssh-keygen -lf` prints it, of a key in SSH wire format. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type a wire-format key starts with (ssh-ed25519, ssh-rsa, ...). */
function keyType(blob: Buffer): string {
  const n = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const t = blob.subarray(4, 4 + n).toString('latin1');
  return /^[\w@.-]+$/.test(t) ? t : 'unknown';
}

/**
 * A pin as written in the pool file: a fingerprint (`SHA256:...`) or a public key line
 * (`ssh-ed25519 AAAA... [comment]`); its fingerprint, or undefined when it is neither.
 */
export function normalizePin(pin: string): string | undefined {
  const s = pin.trim();
  if (/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(s)) return s.replace(/=$/, '');
  const m = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(\s.*)?$/.exec(s);
  if (!m) return undefined;
  const blob = Buffer.from(m[2]!, 'base64');
  return keyType(blob) === m[1] ? fingerprintOf(blob) : undefined;
}

/** The first recorded key of the alias in the file (later duplicates lost a race). */
function recorded(rec: HostKeyRecord): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(rec.file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [alias, , b64] = line.trim().split(/\s+/);
    if (alias === rec.alias && b64) return Buffer.from(b64, 'base64');
  }
  return undefined;
}

function record(rec: HostKeyRecord, blob: Buffer): void {
  mkdirSync(path.dirname(rec.file), { recursive: true, mode: 0o700 });
  // one short append: atomic, so concurrent first contacts never interleave their lines
  appendFileSync(rec.file, `${rec.alias} ${keyType(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}

function who(spec: SshSpec): string {
  const id = spec.hostKey;
  return `${spec.user}@${spec.host}:${spec.port}${id ? ` (cluster ${id.cluster}, node ${id.node})` : ''}`;
}

/**
 * Check (and on first contact record) the key a node presented; the refusal, or undefined when
 * the key is trusted. Synchronous, for ssh2's hostVerifier.
 */
export function checkHostKey(spec: SshSpec, blob: Buffer): ProviderError | undefined {
  const rec = hostKeyRecord(spec);
  const got = `${fingerprintOf(blob)} (${keyType(blob)})`;
  if (rec.pinned && rec.pinned !== fingerprintOf(blob)) {
    return new ProviderError(
      'config',
      `ssh ${who(spec)}: host key does not match the pinned fingerprint: expected ${rec.pinned}, got ${got}; ` +
        'if the host really has a new key, fix host_key_fingerprint in the pool file (ssh-keygen -lf on the host)',
      'HOST_KEY_MISMATCH',
    );
  }
  let known = recorded(rec);
  if (!known) {
    record(rec, blob);
    known = recorded(rec); // a concurrent first contact may have recorded another key first
  }
  if (known && known.equals(blob)) return undefined;
  const expected = known ? `${fingerprintOf(known)} (${keyType(known)})` : 'a recorded key';
  const clear =
    `delete the line "${rec.alias} ..." from ${rec.file}` +
    (spec.hostKey ? ` (\`skyrun down ${spec.hostKey.cluster}\` also removes the cluster's records)` : '');
  return new ProviderError(
    'config',
    `ssh ${who(spec)}: host key changed (possibly a machine in the middle): expected ${expected}, got ${got}; ` +
      `if the host was reinstalled, clear the record: ${clear}`,
    'HOST_KEY_MISMATCH',
  );
}

/** Remove a cluster's recorded host keys (its teardown). */
export function forgetHostKeys(cluster: string): void {
  rmSync(path.join(knownHostsDir(), token(cluster)), { force: true });
}

/** Give every SSH node of the handle its identity for host keys: the cluster and instance id. */
export function withHostKeyIds(handle: ClusterHandle): ClusterHandle {
  return {
    ...handle,
    nodes: handle.nodes.map((n) =>
      n.runner.kind === 'ssh' && !n.runner.hostKey
        ? { ...n, runner: { ...n.runner, hostKey: { cluster: handle.clusterName, node: n.instanceId } } }
        : n,
    ),
  };
}

/** The provider, its terminate also removing the cluster's recorded host keys: a new cluster of the name trusts afresh. */
export function forgettingHostKeys<P extends { terminate(clusterName: string): Promise<void> }>(p: P): P {
  const terminate = p.terminate.bind(p);
  p.terminate = async (clusterName: string) => {
    await terminate(clusterName);
    forgetHostKeys(clusterName);
  };
  return p;
}
