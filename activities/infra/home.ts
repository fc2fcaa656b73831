/** Where SkyRun keeps its state on this machine: SKYRUN_HOME, default ~/.skyrun. */
import { chmodSync, mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function skyrunHome(): string {
  return path.resolve(process.env.SKYRUN_HOME || path.join(os.homedir(), '.skyrun'));
}

export function homePath(...parts: string[]): string {
  return path.join(skyrunHome(), ...parts);
}

/**
 * SKYRUN_HOME holds the codec key, the server's database (job requests, failures) and logs: make
 * it 0700 (also when an older SkyRun made it 0755), and make everything this process and its
 * children create from now on private (umask 077: folders 0700, files 0600). The CLI calls it
 * before it starts the dev server or the worker, which inherit the umask; so do jobs on local
 * nodes (folders of this machine under SKYRUN_HOME).
 */
export function privateHome(): string {
  const home = skyrunHome();
  process.umask(0o077);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  chmodSync(home, 0o700);
  return home;
}
