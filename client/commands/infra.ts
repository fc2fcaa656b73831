/**
 * What runs where, without a server: check (enabled infra), optimize (the optimizer's table),
 * show-gpus and catalog update (the instance catalogs).
 */
import type { Command } from 'commander';
import { ExitCode } from '../../core/states';
import { CliError, type Act } from './shared';
import { addTaskFlags, loadTask, planTable, refuseUnlaunchable } from './task-options';

export function register(program: Command, act: Act): void {
  optimize(program, act);
  showGpus(program, act);
  catalog(program, act);
  check(program, act);
}

function optimize(program: Command, act: Act): void {
  addTaskFlags(
    program
      .command('optimize')
      .description('Print the resources the optimizer considers for a task (cheapest first) and exit')
      .argument('[entrypoint...]', 'task YAML, or a command (after --)')
      .option('-a, --all', 'every offer (each region), not only the cheapest per infra')
      .option('--catalog', 'rank every cloud in the catalog (aws, gcp), enabled here or not')
      .option('--json', 'print the offers as JSON (see the README)'),
  ).action(
    act(async (entry: string[], opts) => {
      const task = loadTask(entry, opts);
      refuseUnlaunchable(task);
      console.log(await planTable(task, { all: !!opts.all, catalog: !!opts.catalog, json: !!opts.json }));
    }),
  );
}

function showGpus(program: Command, act: Act): void {
  program
    .command('show-gpus')
    .description('List the accelerators the catalog offers; with NAME[:N], where and at what price')
    .argument('[accelerator]', 'accelerator name, optionally with a count (A100:8)')
    .option('--infra <cloud>', 'only this cloud (aws, gcp), or k8s[/<context>]: GPUs of the live Kubernetes nodes')
    .option('-a, --all', 'every accelerator, TPUs included')
    .option('--json', 'print the listing as JSON (see the README)')
    .action(act(showGpusAction));
}

async function showGpusAction(
  accArg: string | undefined,
  opts: { infra?: string; all?: boolean; json?: boolean },
): Promise<number | void> {
  const { loadCatalog } = await import('../../activities/infra/inspect');
  const { acceleratorCountsTable, acceleratorOfferingsTable } = await import('../display');
  const json = opts.json ? await import('../json') : undefined;
  const catalog = await loadCatalog();
  let cloud: string | undefined;
  let where: { region?: string; zone?: string } = {};
  if (opts.infra !== undefined) {
    const { parseInfra } = await import('../../core/resources');
    const loc = parseInfra(opts.infra);
    if (!loc.ok) throw new CliError(`--infra ${opts.infra}: ${loc.error}`, ExitCode.INVALID_INPUT);
    cloud = loc.value.cloud;
    if (cloud === 'kubernetes') return showKubernetesGpus(loc.value.region, accArg, !!json);
    where = { region: loc.value.region, zone: loc.value.zone };
    if (cloud !== undefined && !catalog.clouds().includes(cloud)) {
      throw new CliError(
        `--infra ${opts.infra}: no catalog for '${cloud}' (catalogs: ${catalog.clouds().join(', ')})`,
        ExitCode.INVALID_INPUT,
      );
    }
  }
  if (accArg === undefined) {
    const list = catalog
      .accelerators({ cloud, ...where })
      .filter((a) => opts.all || !a.name.toLowerCase().startsWith('tpu-'));
    if (!list.length && (where.region || where.zone))
      throw new CliError(`Catalog (${catalog.source}) offers no accelerators on ${opts.infra}.`);
    if (json) return json.printJson(json.acceleratorCountsJson(list));
    console.log(acceleratorCountsTable(list, cloud !== undefined ? [cloud] : catalog.clouds()));
    if (!opts.all)
      console.log(
        '\nTPUs hidden; -a lists every accelerator. skyrun show-gpus NAME[:N] shows instance types and prices.',
      );
    return;
  }
  const { parseAcceleratorString } = await import('../../core/resources');
  const acc = parseAcceleratorString(accArg);
  if (!acc.ok) throw new CliError(`${accArg}: ${acc.error}`, ExitCode.INVALID_INPUT);
  const count = accArg.includes(':') ? acc.value.count : undefined;
  const list = catalog.accelerators({ name: acc.value.name, count, cloud, ...where });
  if (!list.length) {
    const offered = catalog.accelerators({ name: acc.value.name }).length > 0;
    const near = offered ? [] : catalog.nearestAccelerators(acc.value.name);
    const on = cloud ? ` on ${[cloud, where.region, where.zone].filter(Boolean).join('/')}` : '';
    throw new CliError(
      `Catalog (${catalog.source}) offers no ${accArg}${on}.` +
        (near.length ? ` Try one of these offered accelerators: ${near.join(', ')}.` : '') +
        (offered && on ? ` skyrun show-gpus ${acc.value.name} lists where it is offered.` : ''),
    );
  }
  if (json) return json.printJson(json.offeringsJson(list));
  console.log(acceleratorOfferingsTable(list));
}

/** GPUs of each allowed Kubernetes context: per GPU total and free, then per node (as SkyPilot's). */
async function showKubernetesGpus(
  context: string | undefined,
  accArg: string | undefined,
  json: boolean,
): Promise<number> {
  const { kubernetesGpus } = await import('../../activities/infra/inspect');
  const { kubeGpuTables } = await import('../display');
  let contexts;
  try {
    contexts = await kubernetesGpus(context);
  } catch (e) {
    throw new CliError(`kubernetes: ${(e as Error).message}`);
  }
  if (!contexts.length)
    throw new CliError(
      context ? `kubernetes context '${context}' is not an allowed context` : 'no allowed kubernetes context',
    );
  const name = accArg?.split(':')[0]?.toLowerCase();
  const shown = contexts.map((c) => ({
    ...c,
    gpus: c.gpus.filter((g) => !name || g.gpu.toLowerCase() === name),
    nodes: c.nodes.filter((n) => !name || n.gpu.toLowerCase() === name),
  }));
  if (json) {
    const { printJson, kubeGpusJson } = await import('../json');
    printJson(kubeGpusJson(shown));
  } else console.log(kubeGpuTables(shown));
  return contexts.every((c) => c.error) ? ExitCode.ERROR : ExitCode.SUCCEEDED;
}

function catalog(program: Command, act: Act): void {
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
        const { updateCatalog } = await import('../../activities/infra/inspect');
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
}

function check(program: Command, act: Act): void {
  program
    .command('check')
    .description('Which infra is enabled here, and why not')
    .argument('[infra...]', 'only these (local, ssh, sim, aws, gcp, kubernetes or k8s)')
    .option('--json', 'print the result as JSON (see the README)')
    .action(
      act(async (asked: string[], opts: { json?: boolean }) => {
        const only = asked.map((n) => (n === 'k8s' ? 'kubernetes' : n));
        const { checkInfra } = await import('../../activities/infra/inspect');
        const { table } = await import('../../core/table');
        const { known, rows: checks } = await checkInfra(only);
        const unknown = only.filter((n) => !known.includes(n));
        if (unknown.length)
          throw new CliError(
            `unknown infra: ${unknown.join(', ')} (known: ${known.join(', ')})`,
            ExitCode.INVALID_INPUT,
          );
        if (opts.json) {
          const { printJson, checkJson } = await import('../json');
          printJson(checkJson(checks));
        } else
          console.log(
            table(
              ['INFRA', 'STATUS', 'REASON'],
              checks.map((c) => [c.infra, c.enabled ? 'enabled' : 'disabled', c.reason ?? '']),
            ),
          );
        return checks.some((c) => c.enabled) ? ExitCode.SUCCEEDED : ExitCode.ERROR;
      }),
    );
}
