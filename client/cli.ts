#!/usr/bin/env node
/**
 * `skyrun`: the command line. Commands load only what they use, so printing a status or
 * submitting a job stays fast (no worker, no bundler).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as readline from 'node:readline';
import { Command, CommanderError, Option } from 'commander';
import type { AutostopSetting } from '../core/cluster';
import { ExitCode, exitCodeForJob } from '../core/states';
import {
  applyOverrides,
  checkLaunchable,
  parseTask,
  substituteEnvs,
  taskFromCommand,
  TaskValidationError,
  validateName,
  type TaskOverrides,
  type TaskSpec,
} from '../core/task';
import type { SkyrunClient } from './client';

class CliError extends Error {
  constructor(
    message: string,
    readonly code: number = ExitCode.ERROR,
  ) {
    super(message);
  }
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const log = (m: string) => process.stderr.write(m + '\n');

async function connect(opts: { needWorker?: boolean } = {}): Promise<SkyrunClient> {
  const { SkyrunClient } = await import('./client');
  return SkyrunClient.connect({ log, ...opts });
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
        `${flag} ${eq === 0 ? item : item}: expected NAME=VALUE, or NAME set in your environment`,
        ExitCode.INVALID_INPUT,
      );
  }
  return out;
}

interface TaskFlags {
  env?: string[];
  secret?: string[];
  infra?: string;
  cpus?: string;
  memory?: string;
  gpus?: string;
  instanceType?: string;
  useSpot?: boolean;
  numNodes?: string;
  name?: string;
  workdir?: string;
}

function addTaskFlags(cmd: Command): Command {
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

function loadTask(entry: string[], flags: TaskFlags & { accelerators?: string }): TaskSpec {
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
  const overrides: TaskOverrides = {
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
  // ${VAR} in workdir and file_mounts come from envs, after --env has had its say
  return substituteEnvs(applyOverrides(task, overrides));
}

function refuseUnlaunchable(task: TaskSpec, opts: { managed?: boolean } = {}): void {
  const issues = checkLaunchable(task, opts);
  if (issues.length) throw new TaskValidationError(issues);
}

function checkClusterName(name: string): void {
  const problem = validateName(name);
  if (problem) throw new CliError(`invalid cluster name '${name}': ${problem}`, ExitCode.INVALID_INPUT);
}

function defaultClusterName(): string {
  const user = (process.env.USER || 'user').toLowerCase().replace(/[^a-z0-9]/g, '') || 'user';
  return `skyrun-${Math.random().toString(16).slice(2, 6)}-${user}`;
}

async function confirm(question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) throw new CliError(`${question} Not confirmed: no terminal to ask on; pass -y.`);
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  const answer = await new Promise<string>((r) => rl.question(`${question} [Y/n] `, r));
  rl.close();
  if (answer.trim() && !/^y(es)?$/i.test(answer.trim())) throw new CliError('Aborted.');
}

function autostopFrom(
  opts: { idleMinutesToAutostop?: string; down?: boolean },
  task: TaskSpec,
): AutostopSetting | undefined {
  if (opts.idleMinutesToAutostop !== undefined) {
    const n = Number(opts.idleMinutesToAutostop);
    if (!Number.isFinite(n))
      throw new CliError(
        `-i ${opts.idleMinutesToAutostop}: expected minutes, e.g. 10 (or 0.5)`,
        ExitCode.INVALID_INPUT,
      );
    return { idleMinutes: n, down: !!opts.down };
  }
  if (opts.down) return { idleMinutes: 0, down: true };
  const a = task.candidates[0]?.autostop;
  return a ? { idleMinutes: a.idleMinutes, down: a.down } : undefined;
}

/** Follow a job's log until it ends; Ctrl-C detaches and the job goes on. Returns the exit code. */
async function follow(client: SkyrunClient, cluster: string, jobId: number, phases: boolean): Promise<number> {
  const { followJob } = await import('./follow');
  process.once('SIGINT', () => {
    log(`\nDetached from job ${jobId}; it goes on running on '${cluster}'.`);
    log(`  Follow it again:  skyrun logs ${cluster} ${jobId}`);
    log(`  Cancel it:        skyrun cancel ${cluster} ${jobId}`);
    process.exit(ExitCode.NOT_FINISHED);
  });
  const status = await followJob(client, cluster, jobId, { phases, follow: true });
  if (status) log(`✓ Job ${jobId} finished: ${status}`);
  return exitCodeForJob(status);
}

/** Follow a managed job; Ctrl-C detaches. Returns the exit code its final status maps to. */
async function followManaged(client: SkyrunClient, id: number, followIt = true): Promise<number> {
  const { followManagedJob } = await import('./follow');
  const { managedExitCode } = await import('../core/managed');
  process.once('SIGINT', () => {
    log(`\nDetached from managed job ${id}; it goes on. Follow it again: skyrun jobs logs ${id}`);
    process.exit(ExitCode.NOT_FINISHED);
  });
  const status = await followManagedJob(client, id, { follow: followIt });
  if (!status) {
    log(`Managed job ${id} not found.`);
    return ExitCode.NOT_FOUND;
  }
  return followIt ? managedExitCode(status) : ExitCode.SUCCEEDED;
}

/** Keep `ssh <cluster>` entries in step with the clusters that are up. */
async function refreshSshConfig(client: SkyrunClient): Promise<void> {
  const { writeSshConfig } = await import('./ssh-config');
  writeSshConfig(await client.list());
}

function hints(cluster: string, jobId: number): void {
  log(`  Logs:    skyrun logs ${cluster} ${jobId}`);
  log(`  Queue:   skyrun queue ${cluster}`);
  log(`  Down:    skyrun down -y ${cluster}`);
}

/** Ranked offers of every enabled infra for the task, as the considered-resources table. */
/**
 * The optimizer's table for a task. `catalog`: rank every cloud of the catalog as if it were
 * enabled (planning what a task would cost where), instead of the enabled infra only.
 */
async function planTable(task: TaskSpec, opts: { all?: boolean; catalog?: boolean } = {}): Promise<string> {
  const { planOffers, noOfferMessage } = await import('../activities/infra/inspect');
  const { offersTable } = await import('./display');
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

let exitCode: number = ExitCode.SUCCEEDED;

/** Wrap an action so its returned exit code becomes the process's. */
function act<A extends unknown[]>(fn: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    exitCode = (await fn(...args)) ?? ExitCode.SUCCEEDED;
  };
}

export function buildProgram(): Command {
  const program = new Command('skyrun')
    .description('Run AI and batch jobs on any infrastructure; every launch is a durable Temporal workflow.')
    .version(require('../../package.json').version)
    .showHelpAfterError()
    .exitOverride();

  addTaskFlags(
    program
      .command('launch')
      .description('Launch a cluster (or reuse one) and run a task on it')
      .argument('[entrypoint...]', 'task YAML, or a command (after --)')
      .option('-c, --cluster <name>', 'cluster name (reused when it exists)')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('-d, --detach-run', 'return once the job is submitted')
      .option('--dryrun', 'print the plan and stop')
      .option('-r, --retry-until-up', 'when every candidate fails, wait and search again until one comes up')
      .option('-i, --idle-minutes-to-autostop <n>', 'stop the cluster after N idle minutes')
      .option('--down', 'tear the cluster down when idle (after -i minutes, or once its jobs end)'),
  ).action(
    act(async (entry: string[], opts) => {
      const task = loadTask(entry, opts);
      refuseUnlaunchable(task);
      const cluster: string = opts.cluster ?? defaultClusterName();
      checkClusterName(cluster);
      const autostop = autostopFrom(opts, task);
      log(await planTable(task));
      if (opts.dryrun) return ExitCode.SUCCEEDED;
      const client = await connect();
      try {
        const existing = await client.info(cluster);
        if (!existing) await confirm(`Launching a new cluster '${cluster}'. Proceed?`, opts.yes);
        else log(`Cluster '${cluster}' exists (${existing.status}); running the task on it.`);
        const { jobId } = await client.launch(task, { cluster, autostop, retryUntilUp: opts.retryUntilUp });
        log(`Submitted job ${jobId} to cluster '${cluster}'.`);
        if (opts.detachRun) {
          hints(cluster, jobId);
          return ExitCode.SUCCEEDED;
        }
        const code = await follow(client, cluster, jobId, true);
        await refreshSshConfig(client);
        hints(cluster, jobId);
        return code;
      } finally {
        await client.close();
      }
    }),
  );

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
      const client = await connect();
      try {
        const { jobId } = await client.exec(cluster, task);
        log(`Submitted job ${jobId} to cluster '${cluster}'.`);
        if (opts.detachRun) return ExitCode.SUCCEEDED;
        return await follow(client, cluster, jobId, false);
      } finally {
        await client.close();
      }
    }),
  );

  addTaskFlags(
    program
      .command('optimize')
      .description('Print the resources the optimizer considers for a task (cheapest first) and exit')
      .argument('[entrypoint...]', 'task YAML, or a command (after --)')
      .option('-a, --all', 'every offer (each region), not only the cheapest per infra')
      .option('--catalog', 'rank every cloud in the catalog (aws, gcp), enabled here or not'),
  ).action(
    act(async (entry: string[], opts) => {
      const task = loadTask(entry, opts);
      refuseUnlaunchable(task);
      console.log(await planTable(task, { all: !!opts.all, catalog: !!opts.catalog }));
    }),
  );

  program
    .command('show-gpus')
    .description('List the accelerators the catalog offers; with NAME[:N], where and at what price')
    .argument('[accelerator]', 'accelerator name, optionally with a count (A100:8)')
    .option('--infra <cloud>', 'only this cloud (aws, gcp)')
    .option('-a, --all', 'every accelerator, TPUs included')
    .action(
      act(async (accArg: string | undefined, opts) => {
        const { loadCatalog } = await import('../activities/infra/inspect');
        const { acceleratorCountsTable, acceleratorOfferingsTable } = await import('./display');
        const catalog = await loadCatalog();
        let cloud: string | undefined;
        if (opts.infra !== undefined) {
          const { parseInfra } = await import('../core/resources');
          const loc = parseInfra(opts.infra);
          if (!loc.ok) throw new CliError(`--infra ${opts.infra}: ${loc.error}`, ExitCode.INVALID_INPUT);
          cloud = loc.value.cloud;
          if (cloud !== undefined && !catalog.clouds().includes(cloud)) {
            throw new CliError(
              `--infra ${opts.infra}: no catalog for '${cloud}' (catalogs: ${catalog.clouds().join(', ')})`,
              ExitCode.INVALID_INPUT,
            );
          }
        }
        const clouds = cloud !== undefined ? [cloud] : catalog.clouds();
        if (accArg === undefined) {
          const list = catalog
            .accelerators({ cloud })
            .filter((a) => opts.all || !a.name.toLowerCase().startsWith('tpu-'));
          console.log(acceleratorCountsTable(list, clouds));
          if (!opts.all)
            console.log(
              '\nTPUs hidden; -a lists every accelerator. skyrun show-gpus NAME[:N] shows instance types and prices.',
            );
          return;
        }
        const { parseAcceleratorString } = await import('../core/resources');
        const acc = parseAcceleratorString(accArg);
        if (!acc.ok) throw new CliError(`${accArg}: ${acc.error}`, ExitCode.INVALID_INPUT);
        const count = accArg.includes(':') ? acc.value.count : undefined;
        const list = catalog.accelerators({ name: acc.value.name, count, cloud });
        if (!list.length) {
          const near = catalog.nearestAccelerators(acc.value.name);
          const where = cloud ? ` on ${cloud}` : '';
          throw new CliError(
            `Catalog (${catalog.source}) offers no ${accArg}${where}.` +
              (near.length ? ` Try one of these offered accelerators: ${near.join(', ')}.` : ''),
          );
        }
        console.log(acceleratorOfferingsTable(list));
      }),
    );

  const catalogCmd = program.command('catalog').description('Manage the instance catalogs (prices and offerings)');
  catalogCmd
    .command('update')
    .description('Download the latest SkyPilot-schema catalogs into SKYRUN_HOME/catalogs')
    .option(
      '--url <base>',
      'base URL holding <cloud>/vms.csv (default: $SKYRUN_CATALOG_URL or the public SkyPilot catalog v8)',
    )
    .option('--clouds <list>', 'comma-separated clouds', 'aws,gcp')
    .option('--timeout <seconds>', 'per-download timeout', '30')
    .action(
      act(async (opts) => {
        const { updateCatalog } = await import('../activities/infra/inspect');
        const seconds = Number(opts.timeout);
        if (!(seconds > 0))
          throw new CliError(
            `--timeout ${opts.timeout}: expected a positive number of seconds`,
            ExitCode.INVALID_INPUT,
          );
        const clouds = String(opts.clouds)
          .split(',')
          .map((c) => c.trim().toLowerCase())
          .filter(Boolean);
        try {
          await updateCatalog({ url: opts.url, clouds, timeoutMs: seconds * 1000, log: (m) => console.log(m) });
        } catch (e) {
          throw new CliError((e as Error).message);
        }
      }),
    );

  program
    .command('status')
    .description('List clusters')
    .argument('[clusters...]')
    .action(
      act(async (names: string[]) => {
        const { clustersTable } = await import('./display');
        const client = await connect();
        try {
          const infos = await client.list(names);
          console.log(clustersTable(infos));
          if (!names.length) (await import('./ssh-config')).writeSshConfig(infos);
        } finally {
          await client.close();
        }
      }),
    );

  program
    .command('check')
    .description('Which infra is enabled here, and why not')
    .argument('[infra...]', 'only these (local, ssh, sim, aws, gcp)')
    .action(
      act(async (only: string[]) => {
        const { checkInfra } = await import('../activities/infra/inspect');
        const { table } = await import('../core/table');
        const { known, rows: checks } = await checkInfra(only);
        const unknown = only.filter((n) => !known.includes(n));
        if (unknown.length)
          throw new CliError(
            `unknown infra: ${unknown.join(', ')} (known: ${known.join(', ')})`,
            ExitCode.INVALID_INPUT,
          );
        const rows = checks.map((c) => [c.infra, c.enabled ? 'enabled' : 'disabled', c.reason ?? '']);
        console.log(table(['INFRA', 'STATUS', 'REASON'], rows));
        return rows.some((r) => r[1] === 'enabled') ? ExitCode.SUCCEEDED : ExitCode.ERROR;
      }),
    );

  program
    .command('ssh')
    .description("Open a shell on a cluster's node (or run a command there): `ssh <cluster>` works too")
    .argument('<cluster>')
    .argument('[command...]', 'a command to run instead of a shell (after --)')
    .option('--node <rank>', 'which node: 0 is the head', '0')
    .action(
      act(async (cluster: string, command: string[], opts: { node: string }) => {
        const { spawnSync } = await import('node:child_process');
        const client = await connect({ needWorker: false });
        let info;
        try {
          info = await client.info(cluster);
          if (info) (await import('./ssh-config')).writeSshConfig(await client.list());
        } finally {
          await client.close();
        }
        if (!info?.handle) throw new CliError(`Cluster '${cluster}' does not exist or is not up.`);
        const node = info.handle.nodes[Number(opts.node)];
        if (!node)
          throw new CliError(
            `Cluster '${cluster}' has no node ${opts.node} (it has ${info.handle.nodes.length}).`,
            ExitCode.INVALID_INPUT,
          );
        const { sshConfigFile, hostAlias } = await import('./ssh-config');
        const r =
          node.runner.kind === 'ssh'
            ? spawnSync(
                'ssh',
                ['-F', sshConfigFile(), ...(command.length ? [] : ['-t']), hostAlias(cluster, node.rank), ...command],
                { stdio: 'inherit' },
              )
            : // a local node is a folder: a shell there
              spawnSync(process.env.SHELL || 'bash', command.length ? ['-c', command.join(' ')] : [], {
                stdio: 'inherit',
                cwd: `${node.runner.root}/sky_workdir`,
              });
        return r.status ?? ExitCode.ERROR;
      }),
    );

  program
    .command('queue')
    .description("Show a cluster's job queue")
    .argument('<clusters...>')
    .option('-s, --skip-finished', 'only pending and running jobs')
    .action(
      act(async (names: string[], opts) => {
        const { queueTable } = await import('./display');
        const client = await connect();
        try {
          let code: number = ExitCode.SUCCEEDED;
          for (const n of names) {
            const info = await client.info(n);
            if (!info) {
              log(`Cluster '${n}' does not exist.`);
              code = ExitCode.ERROR;
              continue;
            }
            console.log(queueTable(info, opts));
          }
          return code;
        } finally {
          await client.close();
        }
      }),
    );

  program
    .command('logs')
    .description("Print (and follow) a job's log; the latest job by default")
    .argument('<cluster>')
    .argument('[job_id]')
    .option('--no-follow', 'print what there is and return')
    .option('--status', "print the job's status only; exit code tells it")
    .action(
      act(async (cluster: string, jobArg: string | undefined, opts) => {
        const client = await connect();
        try {
          const info = await client.info(cluster);
          if (!info) throw new CliError(`Cluster '${cluster}' does not exist.`);
          const jobId = jobArg !== undefined ? Number(jobArg) : Math.max(0, ...info.jobs.map((j) => j.id));
          const job = info.jobs.find((j) => j.id === jobId);
          if (!job) {
            log(`Job ${jobArg ?? ''} not found on cluster '${cluster}'.`.replace('  ', ' '));
            return ExitCode.NOT_FOUND;
          }
          if (opts.status) {
            console.log(`Job ${jobId}: ${job.status}`);
            return exitCodeForJob(job.status);
          }
          if (!opts.follow) {
            const { followJob } = await import('./follow');
            await followJob(client, cluster, jobId, { follow: false });
            return ExitCode.SUCCEEDED;
          }
          return await follow(client, cluster, jobId, false);
        } finally {
          await client.close();
        }
      }),
    );

  program
    .command('cancel')
    .description('Cancel jobs on a cluster (kills every rank)')
    .argument('<cluster>')
    .argument('[job_ids...]')
    .option('-a, --all', 'every pending or running job')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      act(async (cluster: string, ids: string[], opts) => {
        const client = await connect();
        try {
          const info = await client.info(cluster);
          if (!info) throw new CliError(`Cluster '${cluster}' does not exist.`);
          let targets = ids.map(Number);
          if (opts.all)
            targets = info.jobs.filter((j) => ['PENDING', 'SETTING_UP', 'RUNNING'].includes(j.status)).map((j) => j.id);
          else if (!targets.length) {
            const latest = Math.max(0, ...info.jobs.map((j) => j.id));
            if (latest) targets = [latest];
          }
          let code: number = ExitCode.SUCCEEDED;
          for (const id of targets) {
            if (!info.jobs.some((j) => j.id === id)) {
              log(`Job ${id} not found on cluster '${cluster}'.`);
              code = ExitCode.NOT_FOUND;
              continue;
            }
            const status = await client.cancel(cluster, id);
            log(`Job ${id}: ${status}`);
          }
          return code;
        } finally {
          await client.close();
        }
      }),
    );

  program
    .command('down')
    .description('Tear clusters down (verified) and remove them')
    .argument('<clusters...>')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      act(async (names: string[], opts) => {
        await confirm(`Tearing down ${names.map((n) => `'${n}'`).join(', ')}. Proceed?`, opts.yes);
        const client = await connect();
        try {
          let code: number = ExitCode.SUCCEEDED;
          for (const n of names) {
            try {
              await client.down(n);
              await refreshSshConfig(client);
              log(`Cluster '${n}' terminated.`);
            } catch (e) {
              log((e as Error).message);
              code = ExitCode.ERROR;
            }
          }
          return code;
        } finally {
          await client.close();
        }
      }),
    );

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
        act(async (names: string[]) => {
          const client = await connect();
          try {
            for (const n of names) {
              await (name === 'stop' ? client.stop(n) : client.start(n));
              log(`Cluster '${n}': ${name === 'stop' ? 'STOPPED' : 'UP'}`);
            }
          } finally {
            await client.close();
          }
        }),
      );
  }

  program
    .command('autostop')
    .description('Set, or cancel, the idle timer of clusters')
    .argument('<clusters...>')
    .option('-i, --idle-minutes <n>', 'idle minutes before stopping', '5')
    .option('--down', 'tear down instead of stopping')
    .option('--cancel', 'cancel autostop')
    .action(
      act(async (names: string[], opts) => {
        const client = await connect();
        try {
          const n = Number(opts.idleMinutes);
          if (!Number.isFinite(n))
            throw new CliError(`-i ${opts.idleMinutes}: expected minutes, e.g. 10 (or 0.5)`, ExitCode.INVALID_INPUT);
          for (const c of names)
            await client.setAutostop(c, opts.cancel || n < 0 ? null : { idleMinutes: n, down: !!opts.down });
        } finally {
          await client.close();
        }
      }),
    );

  program
    .command('worker')
    .description('Run a SkyRun worker in the foreground (production: against TEMPORAL_ADDRESS / an envconfig profile)')
    .action(
      act(async () => {
        const { runWorker } = await import('../worker/worker');
        await runWorker({ background: false });
      }),
    );

  const jobs = program
    .command('jobs')
    .description('Managed jobs: SkyRun launches, watches, recovers and tears down their clusters');
  addTaskFlags(
    jobs
      .command('launch')
      .description('Launch a managed job (recovers from preemption and failures on its own)')
      .argument('[entrypoint...]', 'task YAML, or a command (after --)')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('-d, --detach-run', 'return once the job is submitted'),
  ).action(
    act(async (entry: string[], opts) => {
      const task = loadTask(entry, opts);
      refuseUnlaunchable(task, { managed: true });
      log(await planTable(task));
      const client = await connect();
      try {
        await confirm(`Launching a managed job '${task.name ?? 'job'}'. Proceed?`, opts.yes);
        const { id, name } = await client.launchManaged(task, { name: opts.name });
        log(`Managed job ${id} (${name}) submitted.`);
        if (opts.detachRun) {
          log(`  Logs:    skyrun jobs logs ${id}\n  Queue:   skyrun jobs queue\n  Cancel:  skyrun jobs cancel ${id}`);
          return ExitCode.SUCCEEDED;
        }
        return await followManaged(client, id);
      } finally {
        await client.close();
      }
    }),
  );
  jobs
    .command('queue')
    .description('List managed jobs')
    .option('-s, --skip-finished', 'only jobs still in progress')
    .action(
      act(async (opts: { skipFinished?: boolean }) => {
        const { managedQueueTable } = await import('./display');
        const client = await connect({ needWorker: false });
        try {
          console.log(managedQueueTable(await client.listManaged(), opts));
        } finally {
          await client.close();
        }
      }),
    );
  jobs
    .command('cancel')
    .description('Cancel managed jobs: kill them and tear their clusters down')
    .argument('[ids...]')
    .option('-n, --name <name>', 'the jobs of this name')
    .option('-a, --all', 'every job in progress')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      act(async (ids: string[], opts: { name?: string; all?: boolean }) => {
        const { isManagedTerminal } = await import('../core/managed');
        const client = await connect();
        try {
          let targets = ids.map(Number);
          if (opts.name || opts.all) {
            const all = await client.listManaged();
            targets = all
              .filter((j) => !isManagedTerminal(j.status!) && (opts.all || j.name === opts.name))
              .map((j) => j.id);
          }
          if (!targets.length)
            throw new CliError('no managed job to cancel (give IDs, -n NAME or -a)', ExitCode.INVALID_INPUT);
          for (const id of targets) log(`Managed job ${id}: ${await client.cancelManaged(id)}`);
        } finally {
          await client.close();
        }
      }),
    );
  jobs
    .command('logs')
    .description("Follow a managed job's log across its recoveries")
    .argument('[id]', 'job id (default: the latest)')
    .option('--no-follow', 'print what there is and return')
    .action(
      act(async (idArg: string | undefined, opts: { follow: boolean }) => {
        const client = await connect();
        try {
          const id = idArg !== undefined ? Number(idArg) : (await client.listManaged())[0]?.id;
          if (id === undefined) {
            log('No managed jobs.');
            return ExitCode.NOT_FOUND;
          }
          return await followManaged(client, id, opts.follow);
        } finally {
          await client.close();
        }
      }),
    );

  const sim = program.command('sim').description('The simulated cloud (sim infra) for tests and demos');
  sim
    .command('enable')
    .description('Enable the sim infra with a fault configuration (see examples/sim-*.yaml)')
    .argument('[config]', 'YAML fault configuration')
    .action(
      act(async (file?: string) => {
        const { copyFileSync, writeFileSync } = await import('node:fs');
        const { simConfigFile, readSimConfig, skyrunHome } = await import('../activities/infra/inspect');
        const { mkdirSync } = await import('node:fs');
        mkdirSync(skyrunHome(), { recursive: true });
        const target = await simConfigFile();
        if (file) copyFileSync(file, target);
        else writeFileSync(target, 'catalog_cloud: aws\n');
        console.log(`sim enabled: ${target}\n${JSON.stringify(await readSimConfig())}`);
      }),
    );
  sim
    .command('disable')
    .description('Disable the sim infra (its instances stay until their clusters are downed)')
    .action(
      act(async () => {
        const { rmSync } = await import('node:fs');
        const { simConfigFile } = await import('../activities/infra/inspect');
        rmSync(await simConfigFile(), { force: true });
      }),
    );
  sim
    .command('ls')
    .description("The sim's live instances, as a cloud console lists them")
    .option('-a, --all', 'terminated ones too')
    .action(
      act(async (opts: { all?: boolean }) => {
        const { readSimInstances } = await import('../activities/infra/inspect');
        const { table } = await import('../core/table');
        const rows = (await readSimInstances()).filter((i) => opts.all || i.state !== 'terminated');
        console.log(
          table(
            ['ID', 'CLUSTER', 'ZONE', 'TYPE', 'SPOT', 'STATE'],
            rows.map((i) => [
              i.id,
              i.cluster,
              `${i.region}/${i.zone}`,
              i.instanceType,
              i.spot ? 'yes' : 'no',
              i.reason ?? i.state,
            ]),
          ),
        );
      }),
    );

  const server = program.command('server').description('Manage the embedded Temporal dev server');
  server.command('start').action(
    act(async () => {
      const embedded = await import('../worker/runtime/embedded');
      const { started, status } = await embedded.startServer(log);
      await embedded.ensureWorker();
      console.log(
        `${started ? 'Started' : 'Already running'}: ${status.address}, UI ${status.uiUrl}, data ${status.dbFile}`,
      );
    }),
  );
  server.command('status').action(
    act(async () => {
      const embedded = await import('../worker/runtime/embedded');
      const s = await embedded.serverStatus();
      const w = await embedded.workerStatus();
      console.log(`server: ${s.running ? `running (pid ${s.pid}) on ${s.address}, UI ${s.uiUrl}` : 'stopped'}`);
      console.log(
        `worker: ${w.running ? `running (pid ${w.pid})${w.current ? '' : ', from an older build'}` : 'stopped'}`,
      );
      return s.running ? ExitCode.SUCCEEDED : ExitCode.ERROR;
    }),
  );
  server.command('stop').action(
    act(async () => {
      const embedded = await import('../worker/runtime/embedded');
      console.log((await embedded.stopServer()) ? 'Stopped the server and worker.' : 'The server was not running.');
    }),
  );

  return program;
}

function report(e: unknown): number {
  if (e instanceof TaskValidationError) {
    log(e.message);
    return ExitCode.INVALID_INPUT;
  }
  if (e instanceof CommanderError) {
    return e.exitCode === 0 ? 0 : ExitCode.INVALID_INPUT;
  }
  if (e instanceof CliError) {
    log(e.message);
    return e.code;
  }
  const err = e as Error & { cause?: Error };
  if (process.env.SKYRUN_DEBUG) log(err?.stack ?? String(e));
  // a rejected update says why in its cause (e.g. "cluster 'x' is STOPPED; start it with ...")
  else if (err?.name === 'WorkflowUpdateFailedError' && err.cause?.message) log(`Error: ${err.cause.message}`);
  else log(`Error: ${err?.message ?? String(e)}`);
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
