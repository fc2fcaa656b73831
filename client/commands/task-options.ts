/**
 * A task from the command line: the entrypoint (a YAML file or a command), the task flags that
 * launch, exec, optimize and jobs launch share, and the optimizer's table for the task.
 */
import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ExitCode } from '../../core/states';
import {
  applyOverrides,
  overridesFromFlags,
  TASK_FLAGS,
  checkLaunchable,
  parseTask,
  substituteEnvs,
  taskFromCommand,
  TaskValidationError,
  type TaskSpec,
} from '../../core/task';
import { readInputFile } from './input-file';
import { CliError } from './shared';

/** What commander parsed for the task flags (keys as commander names them; see TASK_FLAGS). */
export type TaskFlags = Record<string, unknown>;

/** The task flags launch, exec, optimize and jobs launch share: registered from core's one table. */
export function addTaskFlags(cmd: Command): Command {
  for (const f of Object.values(TASK_FLAGS)) {
    const arg = f.arg ? ` ${f.arg}` : '';
    const opt = new Option(`${f.short ? `${f.short}, ` : ''}${f.flag}${arg}`, f.help);
    if (f.repeatable) opt.argParser((v: string, prev: string[] = []) => [...prev, v]);
    cmd.addOption(opt);
    for (const alias of f.aliases ?? []) {
      const hidden = new Option(`${alias}${arg}`).hideHelp();
      if (f.repeatable) hidden.argParser((v: string, prev: string[] = []) => [...prev, v]);
      cmd.addOption(hidden);
    }
  }
  return cmd;
}

/** The task of a YAML file or of a command after `--`, with the task flags applied. */
export function loadTask(entry: string[], flags: TaskFlags): TaskSpec {
  let task: TaskSpec;
  const first = entry[0];
  if (entry.length === 1 && first && (/\.ya?ml$/i.test(first) || existsSync(first))) {
    task = parseTask(readInputFile(first), first);
  } else if (entry.length) {
    task = taskFromCommand(entry.join(' '));
  } else {
    throw new CliError(
      'give a task YAML file, or a command after --  (e.g. skyrun launch -- echo hi)',
      ExitCode.INVALID_INPUT,
    );
  }
  // ${VAR} in workdir and file_mounts come from envs, after --env has had its say
  return substituteEnvs(applyOverrides(task, overridesFromFlags(flags, process.env)));
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
