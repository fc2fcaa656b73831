/**
 * A task from the command line: the entrypoint (a YAML file or a command), the task flags that
 * launch, exec, optimize and jobs launch share, and the optimizer's table for the task.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ExitCode } from '../../core/states';
import {
  applyOverrides,
  checkLaunchable,
  parseTask,
  substituteEnvs,
  taskFromCommand,
  TaskValidationError,
  type TaskOverrides,
  type TaskSpec,
} from '../../core/task';
import { CliError } from './shared';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export interface TaskFlags {
  env?: string[];
  secret?: string[];
  infra?: string;
  cpus?: string;
  memory?: string;
  gpus?: string;
  accelerators?: string;
  instanceType?: string;
  useSpot?: boolean;
  numNodes?: string;
  name?: string;
  workdir?: string;
}

export function addTaskFlags(cmd: Command): Command {
  return cmd
    .option('--env <NAME=VALUE>', 'environment variable for setup and run (repeatable; overrides the file)', collect)
    .option('--secret <NAME=VALUE>', 'secret variable, redacted from output (repeatable; overrides the file)', collect)
    .option('--infra <infra>', 'where to run: local, aws, aws/us-east-1, gcp/*/us-central1-a, ...')
    .option('--cpus <n>', "vCPUs per node, e.g. 4 or '4+'")
    .option('--memory <gb>', "memory per node in GiB, e.g. 16 or '16+'")
    .option('--gpus <acc>', 'accelerators, e.g. A100:8 (alias --accelerators)')
    .addOption(new Option('--accelerators <acc>').hideHelp())
    .option('--instance-type <type>', 'exact instance type')
    .option('--use-spot', 'use spot instances')
    .option('--num-nodes <n>', 'number of nodes')
    .option('-n, --name <name>', 'task name')
    .option('--workdir <dir>', 'local folder synced to ~/sky_workdir on every node');
}

/** KEY=VALUE, or a bare KEY taken from this shell's environment (SkyPilot's --env/--secret). */
function keyValues(list: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    else if (eq < 0 && process.env[item] !== undefined) out[item] = process.env[item]!;
    else
      throw new CliError(
        `${flag} ${item}: expected NAME=VALUE, or NAME set in your environment`,
        ExitCode.INVALID_INPUT,
      );
  }
  return out;
}

/** The task flags as overrides of the task file: the one place a flag maps to a task field. */
export function taskOverrides(flags: TaskFlags): TaskOverrides {
  return {
    envs: keyValues(flags.env, '--env'),
    secrets: keyValues(flags.secret, '--secret'),
    infra: flags.infra,
    cpus: flags.cpus,
    memory: flags.memory,
    gpus: flags.gpus ?? flags.accelerators,
    instanceType: flags.instanceType,
    useSpot: flags.useSpot,
    numNodes: flags.numNodes !== undefined ? Number(flags.numNodes) : undefined,
    name: flags.name,
    workdir: flags.workdir,
  };
}

/** The task of a YAML file or of a command after `--`, with the task flags applied. */
export function loadTask(entry: string[], flags: TaskFlags): TaskSpec {
  let task: TaskSpec;
  const first = entry[0];
  if (entry.length === 1 && first && (/\.ya?ml$/i.test(first) || existsSync(first))) {
    if (!existsSync(first)) throw new CliError(`${first}: no such task file`, ExitCode.INVALID_INPUT);
    task = parseTask(readFileSync(first, 'utf8'), first);
  } else if (entry.length) {
    task = taskFromCommand(entry.join(' '));
  } else {
    throw new CliError(
      'give a task YAML file, or a command after --  (e.g. skyrun launch -- echo hi)',
      ExitCode.INVALID_INPUT,
    );
  }
  // ${VAR} in workdir and file_mounts come from envs, after --env has had its say
  return substituteEnvs(applyOverrides(task, taskOverrides(flags)));
}

export function refuseUnlaunchable(task: TaskSpec, opts: { managed?: boolean } = {}): void {
  const issues = checkLaunchable(task, opts);
  if (issues.length) throw new TaskValidationError(issues);
}

/**
 * The optimizer's table for a task. `catalog`: rank every cloud of the catalog as if it were
 * enabled (planning what a task would cost where), instead of the enabled infra only.
 */
export async function planTable(task: TaskSpec, opts: { all?: boolean; catalog?: boolean } = {}): Promise<string> {
  const { planOffers, noOfferMessage } = await import('../../activities/infra/inspect');
  const { offersTable } = await import('../display');
  const req = { candidates: task.candidates, ordered: task.ordered, numNodes: task.numNodes };
  const plan = await planOffers(req, { catalog: opts.catalog });
  if (!plan.offers.length) throw new CliError(await noOfferMessage(req, plan));
  if (!opts.catalog && Object.values(task.fileMounts).some((v) => typeof v === 'string')) {
    const folders = plan.offers.filter((o) => o.cloud === 'local' || o.cloud === 'sim').map((o) => o.cloud);
    if (folders.length === plan.offers.length) {
      throw new CliError(
        `${task.file}: file_mounts: not supported on ${[...new Set(folders)].join(' and ')} infra yet (its nodes are folders of this machine); use workdir, or an ssh/cloud infra`,
        ExitCode.INVALID_INPUT,
      );
    }
  }
  return offersTable(plan.offers, task.numNodes, opts);
}
