/**
 * A real GCS API emulator for tests: fake-gcs-server (built by scripts/gcs-bins.sh into the tools
 * cache) as a child process on a free loopback port, in-memory, plain HTTP. `env` points
 * SkyRun's storage (activities/infra/storage/gcs.ts) at it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, sleep } from './skyrun';

export const FAKE_GCS_VERSION = 'v1.56.1';

export function fakeGcsBinary(): string {
  const tools = process.env.SKYRUN_TOOLS_DIR || path.join(os.homedir(), '.cache', 'skyrun', 'bin');
  return path.join(tools, `fake-gcs-server-${FAKE_GCS_VERSION}`);
}

export interface GcsEmulator {
  endpoint: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startGcsEmulator(): Promise<GcsEmulator> {
  const bin = fakeGcsBinary();
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run bash scripts/gcs-bins.sh (npm test does)`);
  const port = await freePort();
  const proc = spawn(
    bin,
    ['-scheme', 'http', '-host', '127.0.0.1', '-port', String(port), '-backend', 'memory', '-log-level', 'error'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  proc.stdout!.on('data', (d) => (log = (log + d).slice(-2000)));
  proc.stderr!.on('data', (d) => (log = (log + d).slice(-2000)));
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`fake-gcs-server exited: ${log}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (i > 300) throw new Error(`fake-gcs-server did not come up on ${port}: ${log}`);
    await sleep(100);
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    env: { SKYRUN_GCS_ENDPOINT: endpoint, GOOGLE_CLOUD_PROJECT: 'skyrun-test' },
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}
