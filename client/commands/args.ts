/**
 * Checks of command-line arguments that are not task flags (those are core/task's TASK_FLAGS):
 * cluster names, job ids, idle minutes. A bad one is refused with exit 2 before the command
 * connects to anything, so no server or workflow is started for it.
 */
import { ExitCode } from '../../core/states';
import { parseWholeNumber, validateName } from '../../core/task';
import { CliError } from './shared';

/** Job ids (a cluster's jobs, managed jobs) are counted from 1; this bounds what a flag may give. */
export const MAX_JOB_ID = 2 ** 31 - 1;
/** -i / --idle-minutes: at most about two years. */
export const MAX_IDLE_MINUTES = 1_000_000;

export function checkClusterName(name: string): void {
  const problem = validateName(name);
  if (problem) throw new CliError(`invalid cluster name: ${problem}`, ExitCode.INVALID_INPUT);
}

export function checkClusterNames(names: string[]): void {
  names.forEach(checkClusterName);
}

/** A job id given as an argument; `what` names it ("job id", "managed job id"). */
export function jobId(value: string, what = 'job id'): number {
  const r = parseWholeNumber(value, `a ${what}`, 1, MAX_JOB_ID);
  if (!r.ok) throw new CliError(`invalid ${what}: ${r.error}`, ExitCode.INVALID_INPUT);
  return r.value;
}

/**
 * Idle minutes as plain decimal digits, a fraction allowed (`10`, `0.5`); `-1` too when
 * `negativeCancels` (autostop: cancel it, as SkyPilot's `-i -1`).
 */
export function idleMinutes(flag: string, value: string, negativeCancels = false): number {
  if (negativeCancels && value.trim() === '-1') return -1;
  const n = /^\s*\d{1,7}(\.\d{1,6})?\s*$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= MAX_IDLE_MINUTES))
    throw new CliError(
      `${flag} ${JSON.stringify(value)}: expected idle minutes in decimal digits like 10 or 0.5 (0-${MAX_IDLE_MINUTES}${negativeCancels ? ', or -1 to cancel' : ''})`,
      ExitCode.INVALID_INPUT,
    );
  return n;
}
