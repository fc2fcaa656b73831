/**
 * SSH host keys, trusted on first use per cluster node, against real sshd processes on loopback:
 * the first contact records the key (0600 file, 0700 folder) and `ssh <cluster>` through the
 * written config checks it; another sshd with a new key on the same address and port is refused
 * with a clear 'config' error (also by ssh-wait, at once, and by plain ssh); a new instance id on
 * a reused address starts afresh; a pinned fingerprint is enforced from the first contact.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import type { ClusterInfo, NodeInfo } from '../core/cluster';
import { ProviderError } from '../core/errors';
import { readPools } from '../activities/infra/clouds/ssh/pools';
import {
  forgetHostKeys,
  hostKeyRecord,
  knownHostsDir,
  normalizePin,
  withHostKeyIds,
} from '../activities/infra/runners/host-keys';
import { SshRunner, closeAllSsh, type SshSpec } from '../activities/infra/runners/ssh';
import { waitForSsh } from '../activities/infra/runners/ssh-wait';
import { writeSshConfig } from '../client/ssh-config';
import { makeClientKey, startSshd, type FakeHost } from './helpers/sshd';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'skyrun-hostkeys-'));
process.env.SKYRUN_HOME = path.join(tmp, 'home');
process.env.SKYRUN_USER_SSH_CONFIG = path.join(tmp, 'user-ssh-config');
process.env.SKYRUN_SSH_NODE_POOLS = path.join(tmp, 'pools.yaml');
const key = makeClientKey();
const live: FakeHost[] = [];

async function sshd(at?: FakeHost): Promise<FakeHost> {
  const h = await startSshd({ clientKey: key, host: at?.host, port: at?.port });
  live.push(h);
  return h;
}

/** The same address and port, a new host key: what a machine in the middle looks like. */
async function replace(h: FakeHost): Promise<FakeHost> {
  await closeAllSsh();
  await h.stop();
  return sshd(h);
}

const spec = (h: FakeHost, node: string, fingerprint?: string): SshSpec => ({
  kind: 'ssh',
  host: h.host,
  port: h.port,
  user: h.user,
  identityFile: key,
  hostKey: { cluster: 'c1', node, fingerprint },
});

const refusal = (p: Promise<unknown>) => p.then(() => undefined).catch((e: unknown) => e as ProviderError);

afterAll(async () => {
  await closeAllSsh();
  for (const h of live) await h.stop();
  rmSync(path.dirname(key), { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

test('first contact records the key; ssh <cluster> uses it; a new key on the same address is refused', async () => {
  let h = await sshd();
  const s = spec(h, 'i-0001');
  expect((await new SshRunner(s).exec(['echo', 'hi'])).stdout).toBe('hi\n');
  const rec = hostKeyRecord(s);
  expect(rec.file).toBe(path.join(process.env.SKYRUN_HOME!, 'ssh', 'known_hosts', 'c1'));
  expect(statSync(rec.file).mode & 0o777).toBe(0o600);
  expect(statSync(knownHostsDir()).mode & 0o777).toBe(0o700);
  const line = readFileSync(rec.file, 'utf8').trim();
  expect(line.split(' ').slice(0, 2)).toEqual([rec.alias, 'ssh-ed25519']);
  expect(normalizePin(line.split(' ').slice(1).join(' '))).toBe(h.hostKeyFingerprint);

  // `ssh <cluster>` through the config SkyRun writes, checking the recorded key
  const node: NodeInfo = { rank: 0, instanceId: 'i-0001', ip: h.host, runner: s };
  const cluster = { name: 'c1', handle: { clusterName: 'c1', nodes: [node] } } as unknown as ClusterInfo;
  const config = readFileSync(writeSshConfig([cluster]), 'utf8');
  expect(config).toContain('StrictHostKeyChecking yes');
  expect(config).toContain(`UserKnownHostsFile ${rec.file}`);
  const ssh = () =>
    spawnSync('ssh', ['-F', process.env.SKYRUN_USER_SSH_CONFIG!, '-o', 'BatchMode=yes', 'c1', 'echo via-config'], {
      encoding: 'utf8',
    });
  expect(ssh().stdout).toBe('via-config\n');

  const first = h.hostKeyFingerprint;
  h = await replace(h);
  expect(h.hostKeyFingerprint).not.toBe(first);
  const err = await refusal(new SshRunner(s).exec(['true']));
  expect(err).toBeInstanceOf(ProviderError);
  expect(err!.errorClass).toBe('config');
  for (const part of [`${h.host}:${h.port}`, `expected ${first}`, `got ${h.hostKeyFingerprint}`, 'skyrun down c1'])
    expect(err!.message).toContain(part);
  // nothing ran, the record is unchanged, and plain ssh refuses it too
  expect(readFileSync(rec.file, 'utf8').trim()).toBe(line);
  const plain = ssh();
  expect(plain.status).not.toBe(0);
  expect(plain.stdout).toBe('');
  // waiting for the node does not retry a refused key: the infra is blocked at once
  const started = Date.now();
  const waited = await refusal(
    waitForSsh(s, { sleep: (ms) => new Promise((r) => setTimeout(r, ms)), timeoutMs: 30_000 }),
  );
  expect(waited).toMatchObject({ errorClass: 'config' });
  expect(waited!.message).toContain(`got ${h.hostKeyFingerprint}`);
  expect(Date.now() - started).toBeLessThan(10_000);

  // a new instance that reuses the address is trusted afresh; so is anything after the records go
  expect((await new SshRunner(spec(h, 'i-0002')).exec(['echo', 'new'])).stdout).toBe('new\n');
  forgetHostKeys('c1');
  expect(existsSync(rec.file)).toBe(false);
  expect((await new SshRunner(s).exec(['echo', 'again'])).stdout).toBe('again\n');
});

test('a pinned fingerprint is enforced from the first contact', async () => {
  const h = await sshd();
  const wrong = `SHA256:${'A'.repeat(43)}`;
  const pinned = { ...spec(h, 'pool-host', wrong), hostKey: { cluster: 'c2', node: 'pool-host', fingerprint: wrong } };
  const err = await refusal(new SshRunner(pinned).exec(['true']));
  expect(err).toMatchObject({ errorClass: 'config' });
  expect(err!.message).toContain(`expected ${wrong}, got ${h.hostKeyFingerprint}`);
  expect(existsSync(hostKeyRecord(pinned).file)).toBe(false); // nothing recorded
  const right = { ...pinned, hostKey: { ...pinned.hostKey, fingerprint: h.hostKeyFingerprint } };
  expect((await new SshRunner(right).exec(['echo', 'pinned'])).stdout).toBe('pinned\n');
});

test('the pool file pins a host key by fingerprint or public key, on a host or the pool', () => {
  const h = { hostKeyFingerprint: `SHA256:${'b'.repeat(43)}` };
  const keyLine = readFileSync(`${key}.pub`, 'utf8').trim();
  const keyFp = spawnSync('ssh-keygen', ['-lf', `${key}.pub`], { encoding: 'utf8' }).stdout.split(' ')[1];
  writeFileSync(
    process.env.SKYRUN_SSH_NODE_POOLS!,
    stringify({
      lab: {
        identity_file: key,
        host_key_fingerprint: h.hostKeyFingerprint,
        hosts: ['10.0.0.1', { ip: '10.0.0.2', host_key: keyLine }],
      },
    }),
  );
  const pools = readPools();
  expect(pools.lab!.map((x) => x.hostKeyFingerprint)).toEqual([h.hostKeyFingerprint, keyFp]);
  writeFileSync(
    process.env.SKYRUN_SSH_NODE_POOLS!,
    stringify({ lab: { identity_file: key, hosts: [{ ip: '10.0.0.3', host_key_fingerprint: 'MD5:ab:cd' }] } }),
  );
  expect(() => readPools()).toThrow(/lab\.hosts\[0\].*host_key_fingerprint/);
});

test('cloud nodes get their identity from the cluster and instance id', () => {
  const runner: SshSpec = { kind: 'ssh', host: '1.2.3.4', port: 22, user: 'u', identityFile: key };
  const handle = withHostKeyIds({
    clusterName: 'web',
    offerKey: 'k',
    offer: {} as never,
    nodes: [{ rank: 0, instanceId: 'i-abc', ip: '1.2.3.4', runner }],
  });
  expect(handle.nodes[0]!.runner).toEqual({ ...runner, hostKey: { cluster: 'web', node: 'i-abc' } });
  const rec = hostKeyRecord(handle.nodes[0]!.runner as SshSpec);
  expect(rec).toEqual({ file: path.join(knownHostsDir(), 'web'), alias: 'i-abc.web.skyrun', pinned: undefined });
});
