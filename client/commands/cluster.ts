/**
 * Cluster commands: launch, exec, status, queue, logs, cancel, down, stop, start, autostop.
 * Each reaches the cluster's workflow through the typed client (`withClient`).
 */
import type { Command } from 'commander';
import type { AutostopSetting, ClusterInfo } from '../../core/cluster';
import { ExitCode, exitCodeForJob } from '../../core/states';
import { hasWork, type TaskSpec } from '../../core/task';
import { checkClusterName, checkClusterNames, idleMinutes, jobId } from './args';
import type { LaunchOptions, SkyrunClient } from '../client';
import { CliError, confirm, log, withClient, type Act } from './shared';
import { deleteTransientBuckets, prepareTaskBuckets } from './storage';
import { addTaskFlags, loadTask, planTable, refuseUnlaunchable, secretValues } from './task-options';

export function register(program: Command, act: Act): void {
  launch(program, act);
  exec(program, act);
  status(program, act);
  queue(program, act);
  logs(program, act);
  cancel(program, act);
  down(program, act);
  stopStart(program, act);
  autostop(program, act);
}

function defaultClusterName(): string {
  const user = (process.env.USER || 'user').toLowerCase().replace(/[^a-z0-9]/g, '') || 'user';
  return `skyrun-${Math.random().toString(16).slice(2, 6)}-${user}`;
}

function autostopFrom(
  opts: { idleMinutesToAutostop?: string; down?: boolean },
  task: TaskSpec,
): AutostopSetting | undefined {
  if (opts.idleMinutesToAutostop !== undefined)
    return { idleMinutes: idleMinutes('-i', opts.idleMinutesToAutostop), down: !!opts.down };
  if (opts.down) return { idleMinutes: 0, down: true };
  const a = task.candidates[0]?.autostop;
  return a ? { idleMinutes: a.idleMinutes, down: a.down } : undefined;
}

/** Follow a job's log until it ends; Ctrl-C detaches and the job goes on. Returns the exit code. */
async function follow(
  client: SkyrunClient,
  cluster: string,
  jobId: number,
  opts: { phases: boolean; secrets: string[] },
): Promise<number> {
  const { followJob } = await import('../follow');
  process.once('SIGINT', () => {
    log(`\nDetached from job ${jobId}; it goes on running on '${cluster}'.`);
    log(`  Follow it again:  skyrun logs ${cluster} ${jobId}`);
    log(`  Cancel it:        skyrun cancel ${cluster} ${jobId}`);
    process.exit(ExitCode.NOT_FINISHED);
  });
  const status = await followJob(client, cluster, jobId, { ...opts, follow: true });
  if (status === 'SUCCEEDED') log(`✓ Job ${jobId} finished: ${status}`);
  else if (status) {
    // no check mark for a job that did not succeed; a failed one says its exit code and why, in one line
    const { jobFailureLine } = await import('../display');
    const job = (await client.info(cluster, { includeClosed: true }))?.jobs.find((j) => j.id === jobId);
    const code = job?.exitCode !== undefined && status !== 'CANCELLED' ? ` (exit ${job.exitCode})` : '';
    log(`${status === 'CANCELLED' ? '' : '✗ '}Job ${jobId} finished: ${status}${code}`);
    const reason = job && jobFailureLine(job);
    if (reason) log(`  reason: ${reason}`);
  }
  return exitCodeForJob(status);
}

/** Keep `ssh <cluster>` entries in step with the clusters that are up. */
async function refreshSshConfig(client: SkyrunClient): Promise<void> {
  const { writeSshConfig } = await import('../ssh-config');
  writeSshConfig(await client.list());
}

function hints(cluster: string, jobId: number): void {
  log(`  Logs:    skyrun logs ${cluster} ${jobId}`);
  log(`  Queue:   skyrun queue ${cluster}`);
  log(`  Down:    skyrun down -y ${cluster}`);
}

/** A launch with neither run nor setup: the cluster comes up (or is reused) and no job is submitted, as in SkyPilot. */
async function provisionOnly(
  client: SkyrunClient,
  task: TaskSpec,
  o: LaunchOptions,
  stopped: boolean,
): Promise<number> {
  if (stopped) await client.start(o.cluster);
  else await client.provision(task, o);
  const { followProvision } = await import('../follow');
  const info = await followProvision(client, o.cluster);
  await refreshSshConfig(client);
  log(
    `Cluster '${o.cluster}' is UP (${info.numNodes} node(s)); the task has no run or setup, so no job was submitted.`,
  );
  log(`  Run a command:  skyrun exec ${o.cluster} -- <command>`);
  log(`  Shell:          skyrun ssh ${o.cluster}`);
  log(`  Down:           skyrun down -y ${o.cluster}`);
  return ExitCode.SUCCEEDED;
}

function launch(program: Command, act: Act): void {
  addTaskFlags(
    program
      .command('launch')
      .description('Launch a cluster (or reuse one) and run a task on it')
      .argument('[entrypoint...]', 'task YAML, or a command (after --)')
      .option('-c, --cluster <name>', 'cluster name (reused when it exists)')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('-d, --detach-run', 'return once the job is submitted')
      .option('--dryrun', 'print the plan and stop')
      .option('--json', 'with --dryrun: print the plan as JSON on stdout (see the README)')
      .option('-r, --retry-until-up', 'when every candidate fails, wait and search again until one comes up')
      .option('-i, --idle-minutes-to-autostop <n>', 'stop the cluster after N idle minutes')
      .option('--down', 'tear the cluster down when idle (after -i minutes, or once its jobs end)'),
  ).action(
    act(async (entry: string[], opts) => {
      const cluster: string = opts.cluster ?? defaultClusterName();
      checkClusterName(cluster);
      const task = loadTask(entry, opts);
      refuseUnlaunchable(task);
      const autostop = autostopFrom(opts, task);
      if (opts.json && !opts.dryrun) throw new CliError('--json goes with --dryrun', ExitCode.INVALID_INPUT);
      if (opts.json) console.log(await planTable(task, { json: true }));
      else log(await planTable(task));
      if (opts.dryrun) return ExitCode.SUCCEEDED;
      return withClient({}, async (client) => {
        const existing = await client.info(cluster);
        if (!existing) await confirm(`Launching a new cluster '${cluster}'. Proceed?`, opts.yes);
        else log(`Cluster '${cluster}' exists (${existing.status}); running the task on it.`);
        await prepareTaskBuckets(task, cluster);
        const launchOpts = { cluster, autostop, retryUntilUp: opts.retryUntilUp };
        if (!hasWork(task)) return provisionOnly(client, task, launchOpts, existing?.status === 'STOPPED');
        const { jobId } = await client.launch(task, launchOpts);
        log(`Submitted job ${jobId} to cluster '${cluster}'.`);
        if (opts.detachRun) {
          hints(cluster, jobId);
          return ExitCode.SUCCEEDED;
        }
        const code = await follow(client, cluster, jobId, { phases: true, secrets: secretValues(task) });
        // `launch --down` (no idle minutes): the job is over, so are its persistent: false buckets (SkyPilot's rule)
        if (opts.down && opts.idleMinutesToAutostop === undefined) await deleteTransientBuckets(cluster);
        await refreshSshConfig(client);
        hints(cluster, jobId);
        return code;
      });
    }),
  );
}

function exec(program: Command, act: Act): void {
  addTaskFlags(
    program
      .command('exec')
      .description('Run a task on an existing cluster (no provisioning, no setup)')
      .argument('<cluster>')
      .argument('[entrypoint...]', 'task YAML, or a command (after --)')
      .option('-d, --detach-run', 'return once the job is submitted'),
  ).action(
    act(async (cluster: string, entry: string[], opts) => {
      checkClusterName(cluster);
      const task = loadTask(entry, opts);
      refuseUnlaunchable(task);
      if (!(task.run ?? '').trim()) {
        log('Nothing to run: the task has no run commands (exec runs no setup).'); // as SkyPilot's exec
        return ExitCode.SUCCEEDED;
      }
      return withClient({}, async (client) => {
        await prepareTaskBuckets(task, cluster);
        const { jobId } = await client.exec(cluster, task);
        log(`Submitted job ${jobId} to cluster '${cluster}'.`);
        if (opts.detachRun) return ExitCode.SUCCEEDED;
        return follow(client, cluster, jobId, { phases: false, secrets: secretValues(task) });
      });
    }),
  );
}

function status(program: Command, act: Act): void {
  program
    .command('status')
    .description('List clusters')
    .argument('[clusters...]')
    .option('--endpoints', "print where each of the clusters' ports is reachable")
    .option('--endpoint <port>', 'print where one port of the (one) cluster is reachable')
    .option('--json', 'print the clusters as JSON (see the README)')
    .action(
      act(async (names: string[], opts: { endpoints?: boolean; endpoint?: string; json?: boolean }) => {
        checkClusterNames(names);
        if (opts.json && (opts.endpoints || opts.endpoint !== undefined))
          throw new CliError(
            '--json lists clusters; it does not go with --endpoints/--endpoint',
            ExitCode.INVALID_INPUT,
          );
        const port = opts.endpoint === undefined ? undefined : Number(opts.endpoint);
        if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535 || names.length !== 1))
          throw new CliError(
            'usage: skyrun status --endpoint PORT CLUSTER (one port 1-65535, one cluster)',
            ExitCode.INVALID_INPUT,
          );
        return withClient({}, (client) => statusAction(client, names, port, opts));
      }),
    );
}

/** The clusters table (managed jobs' clusters too, marked); a named cluster that does not exist is exit 1. */
async function statusAction(
  client: SkyrunClient,
  names: string[],
  port: number | undefined,
  opts: { endpoints?: boolean; json?: boolean },
): Promise<number> {
  const infos = await client.list(names);
  if (port !== undefined || opts.endpoints) {
    const { printEndpoint, printEndpoints } = await import('./endpoints');
    if (port === undefined) return printEndpoints(infos, names.length > 0);
    if (!infos[0]) throw new CliError(`Cluster '${names[0]}' does not exist.`, ExitCode.ERROR);
    return printEndpoint(infos[0], port);
  }
  const { clustersTable, managedClusters } = await import('../display');
  const managed = managedClusters(await client.listManaged()).filter(
    (m) => !names.length || names.includes(m.clusterName),
  );
  const missing = names.filter((n) => !infos.some((i) => i.name === n) && !managed.some((m) => m.clusterName === n));
  if (opts.json) {
    const { printJson, clustersJson } = await import('../json');
    printJson(clustersJson(infos, managed));
  } else if (!missing.length || infos.length || managed.length) console.log(clustersTable(infos, managed));
  for (const n of missing) log(`Cluster '${n}' does not exist.`);
  if (!names.length) (await import('../ssh-config')).writeSshConfig(infos);
  return missing.length ? ExitCode.ERROR : ExitCode.SUCCEEDED;
}

function queue(program: Command, act: Act): void {
  program
    .command('queue')
    .description("Show a cluster's job queue")
    .argument('<clusters...>')
    .option('-s, --skip-finished', 'only pending and running jobs')
    .option('--json', 'print the queues as JSON (see the README)')
    .action(
      act(async (names: string[], opts) => {
        checkClusterNames(names);
        const { queueTable } = await import('../display');
        return withClient({}, async (client) => {
          let code: number = ExitCode.SUCCEEDED;
          const found: ClusterInfo[] = [];
          for (const n of names) {
            const info = await client.info(n);
            if (!info) {
              log(`Cluster '${n}' does not exist.`);
              code = ExitCode.ERROR;
              continue;
            }
            found.push(info);
            if (!opts.json) console.log(queueTable(info, opts));
          }
          if (opts.json) {
            const { printJson, queueJson } = await import('../json');
            printJson(queueJson(found, opts));
          }
          return code;
        });
      }),
    );
}

function logs(program: Command, act: Act): void {
  program
    .command('logs')
    .description("Print (and follow) a job's log; the latest job by default")
    .argument('<cluster>')
    .argument('[job_id]')
    .option('--no-follow', 'print what there is and return')
    .option('--status', "print the job's status only; exit code tells it")
    .action(
      act(async (cluster: string, jobArg: string | undefined, opts) => {
        checkClusterName(cluster);
        const given = jobArg !== undefined ? jobId(jobArg) : undefined;
        return withClient({}, async (client) => {
          const info = await client.info(cluster);
          if (!info) throw new CliError(`Cluster '${cluster}' does not exist.`);
          const jobId = given ?? Math.max(0, ...info.jobs.map((j) => j.id));
          const job = info.jobs.find((j) => j.id === jobId);
          if (!job) {
            log(`Job ${jobArg ?? ''} not found on cluster '${cluster}'.`.replace('  ', ' '));
            return ExitCode.NOT_FOUND;
          }
          if (opts.status) {
            console.log(`Job ${jobId}: ${job.status}`);
            const { jobFailureLine } = await import('../display');
            const reason = jobFailureLine(job);
            if (reason) console.log(`  reason: ${reason}`);
            return exitCodeForJob(job.status);
          }
          // the job's secrets, to print as <redacted> (an encrypted answer, to this keyed client only)
          const secrets = await client.jobSecrets(cluster, jobId);
          if (!opts.follow) {
            const { followJob } = await import('../follow');
            await followJob(client, cluster, jobId, { follow: false, secrets });
            return ExitCode.SUCCEEDED;
          }
          return follow(client, cluster, jobId, { phases: false, secrets });
        });
      }),
    );
}

function cancel(program: Command, act: Act): void {
  program
    .command('cancel')
    .description('Cancel jobs on a cluster (kills every rank)')
    .argument('<cluster>')
    .argument('[job_ids...]')
    .option('-a, --all', 'every pending or running job')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      act(async (cluster: string, ids: string[], opts) => {
        checkClusterName(cluster);
        const given = ids.map((id) => jobId(id));
        return withClient({}, async (client) => {
          const info = await client.info(cluster);
          if (!info) throw new CliError(`Cluster '${cluster}' does not exist.`);
          let targets = given;
          if (opts.all)
            targets = info.jobs.filter((j) => ['PENDING', 'SETTING_UP', 'RUNNING'].includes(j.status)).map((j) => j.id);
          else if (!targets.length) {
            const latest = Math.max(0, ...info.jobs.map((j) => j.id));
            if (latest) targets = [latest];
          }
          const known = targets.filter((id) => info.jobs.some((j) => j.id === id));
          if (known.length)
            await confirm(
              `Cancelling job${known.length > 1 ? 's' : ''} ${known.join(', ')} on '${cluster}'. Proceed?`,
              opts.yes,
            );
          let code: number = ExitCode.SUCCEEDED;
          for (const id of targets) {
            if (!info.jobs.some((j) => j.id === id)) {
              log(`Job ${id} not found on cluster '${cluster}'.`);
              code = ExitCode.NOT_FOUND;
              continue;
            }
            log(`Job ${id}: ${await client.cancel(cluster, id)}`);
          }
          return code;
        });
      }),
    );
}

function down(program: Command, act: Act): void {
  program
    .command('down')
    .description('Tear clusters down (verified) and remove them')
    .argument('<clusters...>')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      act(async (names: string[], opts) => {
        checkClusterNames(names);
        await confirm(`Tearing down ${names.map((n) => `'${n}'`).join(', ')}. Proceed?`, opts.yes);
        return withClient({}, async (client) => {
          let code: number = ExitCode.SUCCEEDED;
          for (const n of names) {
            try {
              await client.down(n);
              await deleteTransientBuckets(n);
              await refreshSshConfig(client);
              log(`Cluster '${n}' terminated.`);
            } catch (e) {
              log((e as Error).message);
              code = ExitCode.ERROR;
            }
          }
          return code;
        });
      }),
    );
}

function stopStart(program: Command, act: Act): void {
  for (const [name, what] of [
    ['stop', 'Stop clusters (jobs are cancelled; nodes kept)'],
    ['start', 'Start stopped clusters'],
  ] as const) {
    program
      .command(name)
      .description(what)
      .argument('<clusters...>')
      .option('-y, --yes', 'do not ask for confirmation')
      .action(
        act(async (names: string[], opts: { yes?: boolean }) => {
          checkClusterNames(names);
          if (name === 'stop')
            await confirm(
              `Stopping ${names.map((n) => `'${n}'`).join(', ')}: their running jobs are cancelled. Proceed?`,
              opts.yes,
            );
          return withClient({}, async (client) => {
            for (const n of names) {
              await (name === 'stop' ? client.stop(n) : client.start(n));
              log(`Cluster '${n}': ${name === 'stop' ? 'STOPPED' : 'UP'}`);
            }
          });
        }),
      );
  }
}

function autostop(program: Command, act: Act): void {
  program
    .command('autostop')
    .description('Set, or cancel, the idle timer of clusters')
    .argument('<clusters...>')
    .option('-i, --idle-minutes <n>', 'idle minutes before stopping', '5')
    .option('--down', 'tear down instead of stopping')
    .option('--cancel', 'cancel autostop')
    .action(
      act(async (names: string[], opts) => {
        checkClusterNames(names);
        const n = idleMinutes('-i', opts.idleMinutes, true);
        return withClient({}, async (client) => {
          for (const c of names)
            await client.setAutostop(c, opts.cancel || n < 0 ? null : { idleMinutes: n, down: !!opts.down });
        });
      }),
    );
}
