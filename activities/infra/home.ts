/** Where SkyRun keeps its state on this machine: SKYRUN_HOME, default ~/.skyrun. */
import * as os from 'node:os';
import * as path from 'node:path';

export function skyrunHome(): string {
  return path.resolve(process.env.SKYRUN_HOME || path.join(os.homedir(), '.skyrun'));
}

export function homePath(...parts: string[]): string {
  return path.join(skyrunHome(), ...parts);
}
