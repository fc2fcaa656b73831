/**
 * A task from the command line: the entrypoint (a YAML file or a command), the task flags that
 * launch, exec, optimize and jobs launch share, and the optimizer's table for the task.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { ExitCode } from '../../core/states';
import {
  applyOverrides,
  overridesFromFlags,
  TASK_FLAGS,
  checkLaunchable,
  formatIssue,
  parseTaskFile,
  substituteEnvs,
  taskFromCommand,
  TaskValidationError,
  type TaskFile,
  type TaskOverrides,
  type TaskSpec,
} from '../../core/task';
import { configLayers } from '../../activities/infra/inspect';
import { withGitCredentials } from '../git-credentials';
import { readInputFile } from './input-file';
import { CliError } from './shared';

/** What commander parsed for the task flags (keys as commander names them; see TASK_FLAGS). */
export type TaskFlags = Record<string, unknown>;

/** What --secret's help adds: where a value given on the command line can be read. */
const SECRET_HELP =
  '; give NAME alone to take the value from your environment, or use --secret-file: ' +
  'a NAME=VALUE argument is visible to every local user in `ps` while skyrun runs';

/** The task flags launch, exec, optimize and jobs launch share: registered from core's one table. */
export function addTaskFlags(cmd: Command): Command {
  for (const f of Object.values(TASK_FLAGS)) {
    const arg = f.arg ? ` ${f.arg}` : '';
    const help = f === TASK_FLAGS.secrets ? f.help + SECRET_HELP : f.help;
    const opt = new Option(`${f.short ? `${f.short}, ` : ''}${f.flag}${arg}`, help);
    if (f.repeatable) opt.argParser((v: string, prev: string[] = []) => [...prev, v]);
    cmd.addOption(opt);
    for (const alias of f.aliases ?? []) {
      const hidden = new Option(`${alias}${arg}`).hideHelp();
      if (f.repeatable) hidden.argParser((v: string, prev: string[] = []) => [...prev, v]);
      cmd.addOption(hidden);
    }
  }
  cmd.addOption(
    new Option(
      '--secret-file <file>',
      'secrets from a dotenv-style file of NAME=VALUE lines (repeatable; --secret wins; never shown by ps)',
    ).argParser((v: string, prev: string[] = []) => [...prev, v]),
  );
  return cmd;
}

/** Strip one pair of matching quotes; "..." understands \n, \t, \" and \\ as dotenv does. */
function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1);
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    return v.slice(1, -1).replace(/\\([nt"\\])/g, (_, c: string) => ({ n: '\n', t: '\t' })[c] ?? c);
  }
  return v;
}

/** A --secret-file: `NAME=VALUE` lines (optionally `export NAME=VALUE`), blank lines and `# comments`. */
export function readSecretFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(
      `--secret-file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'cannot read it'}`,
      ExitCode.INVALID_INPUT,
    );
  }
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      // never echo the line: it may hold a secret
      throw new CliError(
        `${file}:${i + 1}: expected NAME=VALUE (NAME of letters, digits and '_', not starting with a digit)`,
        ExitCode.INVALID_INPUT,
      );
    }
    out[m[1]!] = unquote(m[2]!);
  });
  return out;
}

/** The secret values a task carries (for redacting its output). */
export function secretValues(task: TaskSpec): string[] {
  return Object.values(task.secrets).filter((v): v is string => typeof v === 'string' && v.length > 0);
}

/** The task of a YAML file or of a command after `--`, with the task flags applied; a pipeline is refused. */
export function loadTask(entry: string[], flags: TaskFlags): TaskSpec {
  const file = loadTaskFile(entry, flags);
  if (file.kind === 'task') return file.task;
  const { pipeline } = file;
  throw new CliError(
    `${pipeline.file}: a pipeline of ${pipeline.tasks.length} tasks (several YAML documents); only managed jobs run pipelines: skyrun jobs launch ${pipeline.file}`,
    ExitCode.INVALID_INPUT,
  );
}

/** The flags that apply to every task of a pipeline; the others are ignored with a warning (as SkyPilot does). */
const PIPELINE_FLAGS: ReadonlySet<string> = new Set(['envs', 'secrets', 'name']);

/**
 * The task (or pipeline) of a YAML file or of a command after `--`, with the task flags applied.
 * A pipeline takes --env and --secret for every task (and -n as its name); other task flags are
 * ignored with a warning, since it is unclear which task they would change.
 */
export function loadTaskFile(entry: string[], flags: TaskFlags): TaskFile {
  let file: TaskFile;
  const first = entry[0];
  if (entry.length === 1 && first && (/\.ya?ml$/i.test(first) || existsSync(first))) {
    file = parseTaskFile(readInputFile(first), first);
  } else if (entry.length) {
    file = { kind: 'task', task: taskFromCommand(entry.join(' ')) };
  } else {
    throw new CliError(
      'give a task YAML file, or a command after --  (e.g. skyrun launch -- echo hi)',
      ExitCode.INVALID_INPUT,
    );
  }
  const parsed = file.kind === 'task' ? [file.task] : file.pipeline.tasks;
  // the config files (SkyPilot's, SkyRun's): a bad value refuses the launch, as a bad task does
  const layers = configLayers();
  const configIssues = layers.flatMap((l) => l.issues);
  if (configIssues.length) throw new TaskValidationError(configIssues);
  // fields accepted and ignored, unknown config keys: one line each, on stderr (core/task/ignored-fields.ts)
  for (const w of [...layers.flatMap((l) => l.warnings), ...parsed.flatMap((t) => t.warnings ?? [])])
    process.stderr.write(`Warning: ${formatIssue(w)}\n`);
  const overrides = overridesFromFlags(flags, process.env);
  const files = (flags.secretFile as string[] | undefined) ?? [];
  if (files.length) {
    // as if each line were a --secret before the command line's own (which win)
    const fromFiles = Object.assign({}, ...files.map(readSecretFile)) as Record<string, string>;
    overrides.secrets = { ...fromFiles, ...(overrides.secrets ?? {}) };
  }
  // ${VAR} in workdir and file_mounts come from envs, after --env has had its say
  if (file.kind === 'task')
    return { kind: 'task', task: withGitCredentials(substituteEnvs(applyOverrides(file.task, overrides))) };
  const ignored = Object.keys(overrides).filter((k) => !PIPELINE_FLAGS.has(k) && overrides[k as keyof TaskOverrides]);
  if (ignored.length) {
    const names = ignored.map((k) => TASK_FLAGS[k as keyof TaskOverrides].flag).join(', ');
    process.stderr.write(`Warning: ${names} ignored: the file holds a pipeline of several tasks\n`);
  }
  const common: TaskOverrides = { envs: overrides.envs, secrets: overrides.secrets };
  const tasks = file.pipeline.tasks.map((t) => withGitCredentials(substituteEnvs(applyOverrides(t, common))));
  return { kind: 'pipeline', pipeline: { ...file.pipeline, tasks } };
}

/** A local path of a task as this machine's absolute path: `~` is the home folder, as in SkyPilot. */
export function localPath(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : path.resolve(p);
}

/** What a local path is on this machine (relative to the working directory), for checkLaunchable. */
function pathKind(p: string): 'dir' | 'file' | 'missing' {
  const st = statSync(localPath(p), { throwIfNoEntry: false });
  return !st ? 'missing' : st.isDirectory() ? 'dir' : 'file';
}

export function refuseUnlaunchable(task: TaskSpec, opts: { managed?: boolean } = {}): void {
  const issues = checkLaunchable(task, { ...opts, pathKind });
  if (issues.length) throw new TaskValidationError(issues);
}

/**
 * The optimizer's table for a task. `catalog`: rank every cloud of the catalog as if it were
 * enabled (planning what a task would cost where), instead of the enabled infra only.
 */
export async function planTable(
  task: TaskSpec,
  opts: { all?: boolean; catalog?: boolean; json?: boolean } = {},
): Promise<string> {
  const { planOffers, noOfferMessage } = await import('../../activities/infra/inspect');
  const { offersTable } = await import('../display');
  const req = { candidates: task.candidates, ordered: task.ordered, numNodes: task.numNodes };
  const plan = await planOffers(req, { catalog: opts.catalog });
  if (!plan.offers.length) throw new CliError(await noOfferMessage(req, plan));
  if (opts.json) return JSON.stringify((await import('../json')).offersJson(plan.offers, task.numNodes));
  return offersTable(plan.offers, task.numNodes, opts);
}
