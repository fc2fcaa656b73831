/**
 * Finding (or building) the `temporal` CLI that runs the embedded dev server: TEMPORAL_CLI_PATH,
 * then PATH, then SkyRun's tools folder, then `go install` into that folder.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export function toolsDir(): string {
  return process.env.SKYRUN_TOOLS_DIR || path.join(os.homedir(), '.cache', 'skyrun', 'bin');
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && executable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** The binary if one is already there, without building anything. */
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

/**
 * Last resort: let the Temporal SDK download its own CLI build into the tools folder (needs
 * internet access to temporal.download), then link it as `temporal`.
 */
async function downloadWithSdk(log: (msg: string) => void): Promise<string> {
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
  const link = path.join(toolsDir(), 'temporal');
  symlinkSync(path.join(toolsDir(), fetched), link);
  return link;
}

/**
 * Find the binary; when none exists, build it with Go (a few minutes, once), and only when Go
 * is missing too, let the SDK download one.
 */
export async function ensureTemporalCli(
  log: (msg: string) => void = (m) => process.stderr.write(m + '\n'),
): Promise<string> {
  const found = findTemporalCli();
  if (found) return found;
  mkdirSync(toolsDir(), { recursive: true });
  const go = onPath('go');
  if (!go) {
    try {
      return await downloadWithSdk(log);
    } catch (e) {
      throw new Error(
        `No \`temporal\` CLI found (TEMPORAL_CLI_PATH, PATH, ${toolsDir()}), Go is not installed to build it, ` +
          `and the SDK download failed (${(e as Error).message}). Install Go, point TEMPORAL_CLI_PATH at a temporal ` +
          'binary, or set TEMPORAL_ADDRESS to use an existing Temporal server.',
      );
    }
  }
  log(
    `Building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go into ${toolsDir()} (first run only; takes a few minutes)...`,
  );
  const r = spawnSync(go, ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`], {
    env: { ...process.env, GOBIN: toolsDir() },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const built = path.join(toolsDir(), 'temporal');
  if (r.status !== 0 || !executable(built)) throw new Error(`go install of the Temporal CLI failed (exit ${r.status})`);
  return built;
}
