/** `skyrun sim`: the simulated cloud (sim infra), for tests and demos. */
import type { Command } from 'commander';
import { readInputFile } from './input-file';
import type { Act } from './shared';

export function register(program: Command, act: Act): void {
  const sim = program.command('sim').description('The simulated cloud (sim infra) for tests and demos');
  sim
    .command('enable')
    .description('Enable the sim infra with a fault configuration (see examples/sim-*.yaml)')
    .argument('[config]', 'YAML fault configuration')
    .action(
      act(async (file?: string) => {
        const { mkdirSync, renameSync, writeFileSync } = await import('node:fs');
        const { checkSimConfig, simConfigFile, readSimConfig, skyrunHome } =
          await import('../../activities/infra/inspect');
        let text = 'catalog_cloud: aws\n';
        if (file) {
          // refused (exit 2) before anything is written: a previous config stays as it was
          text = readInputFile(file, 'sim config');
          await checkSimConfig(text, file);
        }
        mkdirSync(skyrunHome(), { recursive: true });
        const target = await simConfigFile();
        writeFileSync(`${target}.new`, text);
        renameSync(`${target}.new`, target);
        console.log(`sim enabled: ${target}\n${JSON.stringify(await readSimConfig())}`);
      }),
    );
  sim
    .command('disable')
    .description('Disable the sim infra (its instances stay until their clusters are downed)')
    .action(
      act(async () => {
        const { rmSync } = await import('node:fs');
        const { simConfigFile } = await import('../../activities/infra/inspect');
        rmSync(await simConfigFile(), { force: true });
      }),
    );
  sim
    .command('ls')
    .description("The sim's live instances, as a cloud console lists them")
    .option('-a, --all', 'terminated ones too')
    .action(act(list));
}

/** Instances not terminated (running, stopped, ...); with -a, every one. */
async function list(opts: { all?: boolean }): Promise<void> {
  const { readSimInstances } = await import('../../activities/infra/inspect');
  const { table } = await import('../../core/table');
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
}
