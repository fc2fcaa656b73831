/**
 * A stand-in `mv` that records the pid it runs as, for telling whether a phase's wrapper runs its
 * last `mv` in a child (as it must) or execs it in its own process: while a process execs, its
 * environment reads empty and a state check of the wrapper's pid would call the phase lost.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** A folder holding the shim `mv` (put it first in PATH) and the log of pids it ran as. */
export function mvShim(dir: string): { bin: string; pids: () => number[] } {
  const real = execFileSync('bash', ['-c', 'command -v mv'], { encoding: 'utf8' }).trim();
  const bin = path.join(dir, 'shim-bin');
  const log = path.join(dir, 'shim-pids');
  mkdirSync(bin, { recursive: true });
  writeFileSync(path.join(bin, 'mv'), `#!/bin/sh\necho "$$" >> '${log}'\nexec '${real}' "$@"\n`);
  chmodSync(path.join(bin, 'mv'), 0o755);
  const pids = () => {
    try {
      return readFileSync(log, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  return { bin, pids };
}
