#!/usr/bin/env node
/**
 * `skyrun`: the command line's entry point. It sets up argument parsing, registers the command
 * groups of client/commands/, and turns what an action returns or throws into the exit code (the
 * README's "Exit codes"). Commands load only what they use, so printing a status or submitting a
 * job stays fast (no worker, no bundler, no cloud SDK).
 */
import { Command, CommanderError, Help } from 'commander';
import { ExitCode } from '../core/states';
import { InvalidNameError } from '../core/names';
import { MAX_PRINTED_ISSUES, TaskValidationError, oneLine } from '../core/task';
import { SA } from '../workflows/contract/search-attributes';
import * as cluster from './commands/cluster';
import * as infra from './commands/infra';
import * as jobs from './commands/jobs';
import * as server from './commands/server';
import { CliError, log, type Act } from './commands/shared';
import * as sim from './commands/sim';
import * as ssh from './commands/ssh';
import * as storage from './commands/storage';

export { CliError };

/** The order `skyrun --help` lists the commands in, whichever group registers them; others go last. */
const HELP_ORDER = [
  'launch',
  'exec',
  'optimize',
  'show-gpus',
  'catalog',
  'status',
  'check',
  'ssh',
  'queue',
  'logs',
  'cancel',
  'down',
  'stop',
  'start',
  'autostop',
  'worker',
  'jobs',
  'storage',
  'sim',
  'server',
];

function helpRank(cmd: Command): number {
  const i = HELP_ORDER.indexOf(cmd.name());
  return i < 0 ? HELP_ORDER.length : i;
}

let exitCode: number = ExitCode.SUCCEEDED;

/** Wrap an action so its returned exit code becomes the process's. */
const act: Act =
  (fn) =>
  async (...args) => {
    exitCode = (await fn(...args)) ?? ExitCode.SUCCEEDED;
  };

export function buildProgram(): Command {
  const program = new Command('skyrun')
    .description('Run AI and batch jobs on any infrastructure; every launch is a durable Temporal workflow.')
    .version(require('../../package.json').version)
    // a hint, not the whole help: an error stays a few lines
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeErr: (m) => process.stderr.write(bounded(m)) })
    .exitOverride();
  for (const group of [cluster, infra, ssh, server, jobs, storage, sim]) group.register(program, act);
  program.configureHelp({
    visibleCommands(this: Help, cmd: Command) {
      const list = Help.prototype.visibleCommands.call(this, cmd);
      return cmd === program ? list.sort((a, b) => helpRank(a) - helpRank(b)) : list;
    },
  });
  return program;
}

/** At most MAX_PRINTED_ISSUES lines, each on one line and cut (oneLine): what the user gave may be huge. */
function bounded(message: string): string {
  const lines = message.replace(/\n$/, '').split('\n');
  const shown = lines.slice(0, MAX_PRINTED_ISSUES).map(oneLine);
  if (lines.length > shown.length) shown.push(`... and ${lines.length - shown.length} more lines`);
  return shown.join('\n') + (message.endsWith('\n') ? '\n' : '');
}

/** What to do about a server-side error a user can fix. */
function hint(message: string): string {
  const missing = /no mapping defined for search attribute (\w+)/.exec(message)?.[1];
  if (missing && Object.values(SA).some((k) => k.name === missing))
    return (
      "\nSkyRun's search attributes are not registered on this server: start 'skyrun worker' once " +
      "(it registers them), or create them with 'temporal operator search-attribute create'."
    );
  return '';
}

function report(e: unknown): number {
  if (e instanceof TaskValidationError || e instanceof InvalidNameError) {
    log(e instanceof InvalidNameError ? bounded(e.message) : e.message); // issues are bounded already: formatIssues
    return ExitCode.INVALID_INPUT;
  }
  if (e instanceof CommanderError) {
    return e.exitCode === 0 ? 0 : ExitCode.INVALID_INPUT;
  }
  if (e instanceof CliError) {
    log(bounded(e.message));
    return e.code;
  }
  const err = e as Error & { cause?: Error };
  if (process.env.SKYRUN_DEBUG) log(err?.stack ?? String(e));
  // a rejected update says why in its cause (e.g. "cluster 'x' is STOPPED; start it with ...")
  else if (err?.name === 'WorkflowUpdateFailedError' && err.cause?.message) log(bounded(`Error: ${err.cause.message}`));
  else log(bounded(`Error: ${err?.message ?? String(e)}${hint(err?.message ?? '')}`));
  return ExitCode.ERROR;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  exitCode = ExitCode.SUCCEEDED;
  try {
    await program.parseAsync(argv);
  } catch (e) {
    return report(e);
  }
  return exitCode;
}

/** Exit once stdout and stderr are flushed: writes to a pipe are asynchronous in Node. */
function exitFlushed(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

if (require.main === module) {
  main(process.argv).then(exitFlushed, (e) => exitFlushed(report(e)));
}
