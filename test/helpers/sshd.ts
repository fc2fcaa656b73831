/**
 * Real OpenSSH servers for tests and benchmarks: each fake host is an `sshd -D -e` child process
 * on its own loopback address (127.0.0.2, 127.0.0.3, ...) and a free port, with its own host key,
 * config and HOME, all in a temp dir (a new host key each start, also on an address and port
 * used before: a machine in the middle, as the client sees it). Every host is this machine as
 * root; `SetEnv HOME=...` in sshd_config gives each one a different `~`.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, sleep } from './skyrun';

export const SSHD = '/usr/sbin/sshd';

let nextAddress = 2;

export interface FakeHost {
  host: string;
  port: number;
  user: string;
  /** the private key authorized on this host (mode 0600) */
  identityFile: string;
  /** its host key's fingerprint as `ssh-keygen -lf` prints it (SHA256:...) */
  hostKeyFingerprint: string;
  /** its host public key line (`ssh-ed25519 AAAA... comment`) */
  hostPublicKey: string;
  /** what `~` is for sessions on this host */
  home: string;
  dir: string;
  proc: ChildProcess;
  /** Kill every live SSH connection to this host (the listener stays up). */
  dropConnections(): void;
  stop(): Promise<void>;
}

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'skyrun-test', '-f', file]);
}

/** A client key pair in a temp dir; pass it to several hosts to authorize one key on all. */
export function makeClientKey(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skyrun-sshkey-'));
  const file = path.join(dir, 'id_ed25519');
  keygen(file);
  return file;
}

export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

async function waitForBanner(host: string, port: number, proc: ChildProcess, stderr: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`sshd exited: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () =>
        s.once('data', (d) => (s.destroy(), resolve(d.toString().startsWith('SSH-')))),
      );
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`sshd on ${host}:${port} did not come up: ${stderr()}`);
}

/** A folder of links to every command on the default PATH except `without`: a PATH lacking them. */
function limitedPath(bin: string, without: string[]): string {
  mkdirSync(bin);
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      if (without.includes(n)) continue;
      try {
        symlinkSync(path.join(d, n), path.join(bin, n));
      } catch {
        /* an earlier folder had it */
      }
    }
  }
  return bin;
}

export async function startSshd(
  opts: {
    clientKey?: string;
    port?: number;
    host?: string;
    /** more variables every session on this host gets (sshd_config SetEnv), besides HOME */
    env?: Record<string, string>;
    /** no `Subsystem sftp` line, as on many hardened hosts: SFTP is refused */
    noSftp?: boolean;
    /**
     * a host whose sessions lack these commands: their PATH is a folder of links to this
     * machine's tools (those on the default PATH) except these
     */
    withoutTools?: string[];
  } = {},
): Promise<FakeHost> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skyrun-sshd-'));
  const host = opts.host ?? `127.0.0.${nextAddress++}`;
  const port = opts.port ?? (await freePort());
  const home = path.join(dir, 'home');
  mkdirSync(home);
  mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege separation dir
  const identityFile = opts.clientKey ?? path.join(dir, 'id_ed25519');
  if (!opts.clientKey) keygen(identityFile);
  keygen(path.join(dir, 'host_ed25519'));
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${identityFile}.pub`), { mode: 0o600 });
  const env: Record<string, string> = { HOME: home, ...opts.env };
  if (opts.withoutTools) env.PATH = limitedPath(path.join(dir, 'bin'), opts.withoutTools);
  const config = [
    `ListenAddress ${host}:${port}`,
    `HostKey ${dir}/host_ed25519`,
    `PidFile ${dir}/sshd.pid`,
    `AuthorizedKeysFile ${dir}/authorized_keys`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    `SetEnv ${Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
    ...(opts.noSftp ? [] : ['Subsystem sftp internal-sftp']),
    'MaxStartups 100:30:200',
    'LogLevel ERROR',
  ].join('\n');
  writeFileSync(path.join(dir, 'sshd_config'), config + '\n');
  const proc = spawn(SSHD, ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  await waitForBanner(host, port, proc, () => stderr);
  const fake: FakeHost = {
    host,
    port,
    user: 'root',
    identityFile,
    hostKeyFingerprint: execFileSync('ssh-keygen', ['-lf', `${dir}/host_ed25519.pub`], { encoding: 'utf8' }).split(
      ' ',
    )[1]!,
    hostPublicKey: readFileSync(`${dir}/host_ed25519.pub`, 'utf8').trim(),
    home,
    dir,
    proc,
    dropConnections() {
      for (const pid of childrenOf(proc.pid!)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    },
    async stop() {
      fake.dropConnections();
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fake;
}
