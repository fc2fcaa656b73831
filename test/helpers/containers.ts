/**
 * Real containers for the docker-mode tests, with podman (no registry and no Docker engine are
 * needed): a tiny image imported from a rootfs made of this machine's busybox-static and bash (and
 * bash's libraries), with a marker only true inside it (/etc/os-release says ID=skyrun-test).
 *
 * Inside some sandboxes podman's defaults cannot start a container (crun refuses cgroup v1/v2
 * hybrid mounts; raising rlimits needs CAP_SYS_RESOURCE); then a containers.conf (runc, the
 * machine's own rlimits) is written for the tests, and sshd hands it to sessions (CONTAINERS_CONF).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const TEST_IMAGE = 'localhost/skyrun-test:1';

/** bash's shared libraries, as ldd lists them. */
function libsOf(binary: string): string[] {
  return [...execFileSync('ldd', [binary], { encoding: 'utf8' }).matchAll(/(\/\S+)/g)].map((m) => m[1]!);
}

function buildRootfs(dir: string): void {
  for (const d of ['bin', 'etc', 'tmp', 'root']) mkdirSync(path.join(dir, d), { recursive: true });
  copyFileSync('/bin/busybox', path.join(dir, 'bin', 'busybox'));
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) if (a !== 'busybox' && a !== 'bash') symlinkSync('busybox', path.join(dir, 'bin', a));
  copyFileSync('/bin/bash', path.join(dir, 'bin', 'bash'));
  for (const lib of libsOf('/bin/bash')) {
    mkdirSync(path.join(dir, path.dirname(lib)), { recursive: true });
    copyFileSync(lib, path.join(dir, lib));
  }
  writeFileSync(path.join(dir, 'etc', 'os-release'), 'ID=skyrun-test\nNAME="SkyRun test image"\n');
  writeFileSync(path.join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
}

const podman = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync('podman', args, { encoding: 'utf8', env, timeout: 120_000 });

/** Whether a container starts with this environment. */
function containersRun(env: NodeJS.ProcessEnv): string | undefined {
  const r = podman(['run', '--rm', '--network', 'host', TEST_IMAGE, 'true'], env);
  return r.status === 0 ? undefined : (r.stderr || r.error?.message || `exit ${r.status}`).trim();
}

/** A containers.conf for sandboxes whose defaults cannot start a container. */
function sandboxConf(dir: string): string {
  const nofile = execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  const file = path.join(dir, 'containers.conf');
  writeFileSync(
    file,
    `[containers]\ndefault_ulimits = ["nofile=${nofile}:${nofile}", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n`,
  );
  return file;
}

/**
 * Imports the test image (again each time: a second or two) and finds how containers run here.
 * Returns the variables a session needs (CONTAINERS_CONF, or none); throws, saying why, when
 * containers cannot run on this machine.
 */
export function prepareContainers(): { env: Record<string, string>; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skyrun-containers-'));
  const rootfs = path.join(dir, 'rootfs');
  buildRootfs(rootfs);
  const tar = path.join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', tar, '.']);
  rmSync(rootfs, { recursive: true, force: true });
  podman(['rmi', '-f', TEST_IMAGE]); // the previous run's copy, so none is left dangling
  const imported = podman(['import', tar, TEST_IMAGE]);
  if (imported.status !== 0) throw new Error(`podman import failed: ${imported.stderr}`);
  const plain = containersRun(process.env);
  if (!plain) return { env: {}, dir };
  const conf = sandboxConf(dir);
  const why = containersRun({ ...process.env, CONTAINERS_CONF: conf });
  if (why) throw new Error(`podman cannot run containers here: ${plain}; with ${conf}: ${why}`);
  return { env: { CONTAINERS_CONF: conf }, dir };
}

/** Remove the named containers (the tests' own; gone ones are fine). */
export function removeContainers(names: string[], env: Record<string, string>): void {
  if (names.length) podman(['rm', '-f', ...names], { ...process.env, ...env });
}

/** The containers podman runs whose name starts with `prefix`. */
export function runningContainers(prefix: string, env: Record<string, string>): string[] {
  const r = podman(['ps', '--format', '{{.Names}}'], { ...process.env, ...env });
  return r.stdout.split('\n').filter((n) => n.startsWith(prefix));
}

/**
 * A `docker` on PATH for one SSH host: it records each call's arguments (and a login's stdin) in
 * `log`, and runs podman for the rest (no Docker engine here), without `--gpus all` (no GPUs).
 */
export function dockerShim(dir: string, log: string): string {
  const bin = path.join(dir, 'shim-bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    path.join(bin, 'docker'),
    `#!/bin/bash
printf 'argv:' >> ${log}; printf ' %s' "$@" >> ${log}; echo >> ${log}
if [ "$1" = login ]; then printf 'stdin: %s\\n' "$(cat)" >> ${log}; exit 0; fi
args=(); skip=0
for a in "$@"; do
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  if [ "$a" = --gpus ]; then skip=1; continue; fi
  args+=("$a")
done
exec podman "\${args[@]}"
`,
    { mode: 0o755 },
  );
  return bin;
}
