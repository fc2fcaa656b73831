/**
 * `skyrun jobs`: managed jobs, which SkyRun launches, watches, recovers and tears down on its own.
 */
import type { Command } from 'commander';
import { ExitCode } from '../../core/states';
import type { SkyrunClient } from '../client';
import { jobId } from './args';
import { CliError, confirm, log, withClient, type Act } from './shared';
import { pipelineNames, type PipelineSpec } from '../../core/task';
import { deleteTransientBuckets, prepareTaskBuckets } from './storage';
import { addTaskFlags, loadTaskFile, planTable, refuseUnlaunchable } from './task-options';

export function register(program: Command, act: Act): void {
  const jobs = program
    .command('jobs')
    .description('Managed jobs: SkyRun launches, watches, recovers and tears down their clusters');
  launch(jobs, act);
  queue(jobs, act);
  cancel(jobs, act);
  logs(jobs, act);
}

/** Follow a managed job; Ctrl-C detaches. Returns the exit code its final status maps to. */
async function followManaged(client: SkyrunClient, id: number, followIt = true, task?: number): Promise<number> {
  const { followManagedJob } = await import('../follow');
  const { managedExitCode } = await import('../../core/managed');
  process.once('SIGINT', () => {
    log(`\nDetached from managed job ${id}; it goes on. Follow it again: skyrun jobs logs ${id}`);
    process.exit(ExitCode.NOT_FINISHED);
  });
  // printed as <redacted> (an encrypted answer, to this keyed client only)
  const secrets = await client.managedJobSecrets(id);
  const status = await followManagedJob(client, id, { follow: followIt, secrets, task });
  if (!status) {
    log(`Managed job ${id} not found.`);
    return ExitCode.NOT_FOUND;
  }
  return followIt ? managedExitCode(status) : ExitCode.SUCCEEDED;
}

function launch(jobs: Command, act: Act): void {
  addTaskFlags(
    jobs
      .command('launch')
      .description('Launch a managed job (recovers from preemption and failures on its own)')
      .argument('[entrypoint...]', 'task YAML, or a command (after --)')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('-d, --detach-run', 'return once the job is submitted'),
  ).action(
    act(async (entry: string[], opts) => {
      const file = loadTaskFile(entry, opts);
      if (file.kind === 'pipeline') return launchPipeline(file.pipeline, opts);
      const { task } = file;
      refuseUnlaunchable(task, { managed: true });
      log(await planTable(task));
      return withClient({}, async (client) => {
        await confirm(`Launching a managed job '${task.name ?? 'job'}'. Proceed?`, opts.yes);
        const label = opts.name ?? task.name ?? 'managed-job'; // the buckets' cluster label
        await prepareTaskBuckets(task, label);
        const { id, name } = await client.launchManaged(task, { name: opts.name });
        return submitted(client, id, name, opts.detachRun, label);
      });
    }),
  );
}

/** Submitted: detach, or follow to the end and then delete its persistent: false buckets (labelled `label`). */
async function submitted(
  client: SkyrunClient,
  id: number,
  name: string,
  detach: boolean | undefined,
  label: string,
): Promise<number> {
  log(`Managed job ${id} (${name}) submitted.`);
  if (detach) {
    log(`  Logs:    skyrun jobs logs ${id}\n  Queue:   skyrun jobs queue\n  Cancel:  skyrun jobs cancel ${id}`);
    return ExitCode.SUCCEEDED;
  }
  const code = await followManaged(client, id);
  // the managed job has ended: its persistent: false buckets go (SkyPilot's controller does this)
  if (code !== ExitCode.NOT_FINISHED) await deleteTransientBuckets(label);
  return code;
}

/** A pipeline: every task checked and planned (each on a cluster of its own), then one managed job. */
async function launchPipeline(
  pipeline: PipelineSpec,
  opts: { name?: string; yes?: boolean; detachRun?: boolean },
): Promise<number> {
  const names = pipelineNames(pipeline, opts.name);
  for (const task of pipeline.tasks) refuseUnlaunchable(task, { managed: true });
  for (const [i, task] of pipeline.tasks.entries()) {
    log(`Task ${i} (${names.tasks[i]}):`);
    log(await planTable(task));
  }
  return withClient({}, async (client) => {
    await confirm(
      `Launching a managed job '${names.job}': a pipeline of ${pipeline.tasks.length} tasks run in order. Proceed?`,
      opts.yes,
    );
    for (const task of pipeline.tasks) await prepareTaskBuckets(task, names.job);
    const { id, name } = await client.launchPipeline(pipeline.tasks, names);
    return submitted(client, id, name, opts.detachRun, names.job);
  });
}

function queue(jobs: Command, act: Act): void {
  jobs
    .command('queue')
    .description('List managed jobs')
    .option('-s, --skip-finished', 'only jobs still in progress')
    .option('--json', 'print the jobs as JSON (see the README)')
    .action(
      act(async (opts: { skipFinished?: boolean; json?: boolean }) => {
        const { managedQueueTable } = await import('../display');
        await withClient({ needWorker: false }, async (client) => {
          const jobs = await client.listManaged();
          if (!opts.json) return console.log(managedQueueTable(jobs, opts));
          const { printJson, managedJobsJson } = await import('../json');
          printJson(managedJobsJson(jobs, opts));
        });
      }),
    );
}

function cancel(jobs: Command, act: Act): void {
  jobs
    .command('cancel')
    .description('Cancel managed jobs: kill them and tear their clusters down')
    .argument('[ids...]')
    .option('-n, --name <name>', 'the jobs of this name')
    .option('-a, --all', 'every job in progress')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      act(async (ids: string[], opts: { name?: string; all?: boolean; yes?: boolean }) => {
        const given = ids.map((id) => jobId(id, 'managed job id'));
        if (!given.length && !opts.name && !opts.all)
          throw new CliError('no managed job to cancel (give IDs, -n NAME or -a)', ExitCode.INVALID_INPUT);
        const { isManagedTerminal } = await import('../../core/managed');
        return withClient({}, async (client) => {
          let targets = given;
          if (opts.name || opts.all)
            targets = (await client.listManaged())
              .filter((j) => !isManagedTerminal(j.status!) && (opts.all || j.name === opts.name))
              .map((j) => j.id);
          if (!targets.length)
            throw new CliError('no managed job to cancel (give IDs, -n NAME or -a)', ExitCode.INVALID_INPUT);
          const known: number[] = [];
          for (const id of targets) if (await managedJobExists(client, id)) known.push(id);
          if (known.length)
            await confirm(
              `Cancelling managed job${known.length > 1 ? 's' : ''} ${known.join(', ')} (their clusters are torn down). Proceed?`,
              opts.yes,
            );
          let code: number = ExitCode.SUCCEEDED;
          for (const id of targets) {
            if (!known.includes(id)) {
              log(`Managed job ${id} not found.`);
              code = ExitCode.NOT_FOUND;
            } else log(`Managed job ${id}: ${await client.cancelManaged(id)}`);
          }
          return code;
        });
      }),
    );
}

/** Whether managed job `id` was ever submitted (its workflow exists, running or closed). */
async function managedJobExists(client: SkyrunClient, id: number): Promise<boolean> {
  const { managedJobWorkflowId } = await import('../../workflows/contract');
  try {
    await client.client.workflow.getHandle(managedJobWorkflowId(id)).describe();
    return true;
  } catch (e) {
    if ((e as Error)?.name === 'WorkflowNotFoundError') return false;
    throw e;
  }
}

function logs(jobs: Command, act: Act): void {
  jobs
    .command('logs')
    .description("Follow a managed job's log across its recoveries")
    .argument('[id]', 'job id (default: the latest)')
    .option('--no-follow', 'print what there is and return')
    .option('--task <task>', "a pipeline's task only: its index (0, 1, ...) or name")
    .action(
      act(async (idArg: string | undefined, opts: { follow: boolean; task?: string }) => {
        const given = idArg !== undefined ? jobId(idArg, 'managed job id') : undefined;
        return withClient({}, async (client) => {
          const id = given ?? (await client.listManaged())[0]?.id;
          if (id === undefined) {
            log('No managed jobs.');
            return ExitCode.NOT_FOUND;
          }
          const task = opts.task === undefined ? undefined : await pipelineTask(client, id, opts.task);
          return followManaged(client, id, opts.follow, task);
        });
      }),
    );
}

/** The index of a pipeline's task given by index or name; exit 2 when the job has no such task. */
async function pipelineTask(client: SkyrunClient, id: number, given: string): Promise<number> {
  const tasks = (await client.managedJob(id))?.tasks;
  if (!tasks) throw new CliError(`managed job ${id} is not a pipeline; leave out --task`, ExitCode.INVALID_INPUT);
  const byName = tasks.findIndex((t) => t.name === given);
  const index = byName >= 0 ? byName : /^\d+$/.test(given) ? Number(given) : -1;
  if (index < 0 || index >= tasks.length) {
    const known = tasks.map((t, i) => `${i} (${t.name})`).join(', ');
    throw new CliError(`managed job ${id} has no task '${given}'; its tasks: ${known}`, ExitCode.INVALID_INPUT);
  }
  return index;
}
