/**
 * `skyrun storage ls|delete`: the buckets SkyRun created for file_mounts storage objects (found
 * by the marker object in each, activities/infra/storage), and the bucket steps of a launch:
 * creating and uploading before it (prepareTaskBuckets), deleting `persistent: false` buckets at
 * `down` (deleteTransientBuckets).
 */
import type { Command } from 'commander';
import { ExitCode } from '../../core/states';
import { bucketMounts } from '../../core/task/storage';
import type { TaskSpec } from '../../core/task';
import { CliError, confirm, log, type Act } from './shared';

const storageModule = () => import('../../activities/infra/storage/index');

/** Before the launch of `task` on `cluster`: its buckets exist and `source` folders are uploaded. */
export async function prepareTaskBuckets(task: TaskSpec, cluster: string): Promise<void> {
  const { mounts } = bucketMounts(task);
  if (!mounts.length) return;
  const { prepareBuckets } = await storageModule();
  try {
    await prepareBuckets(mounts, cluster, log);
  } catch (e) {
    throw new CliError(`${task.file}: ${(e as Error).message}`, ExitCode.ERROR);
  }
}

/** At `down`: the cluster's `persistent: false` buckets go too (SkyPilot's behaviour). */
export async function deleteTransientBuckets(cluster: string): Promise<void> {
  const { configuredStores, deleteTransientStorage } = await storageModule();
  if (!configuredStores().length) return;
  try {
    for (const uri of await deleteTransientStorage(cluster)) log(`Deleted bucket ${uri} (persistent: false).`);
  } catch (e) {
    log(`Could not delete the cluster's persistent: false buckets: ${(e as Error).message}`);
  }
}

export function register(program: Command, act: Act): void {
  const storage = program.command('storage').description('Buckets SkyRun created for file_mounts');
  storage
    .command('ls')
    .description('List the buckets SkyRun created (in every store with credentials here)')
    .action(
      act(async () => {
        const { listStorage } = await storageModule();
        const { table } = await import('../../core/table');
        const { rows, errors } = await listStorage();
        console.log(
          table(
            ['NAME', 'STORE', 'CREATED', 'PERSISTENT', 'CLUSTER'],
            rows.map((r) => [
              r.name,
              r.store.toUpperCase(),
              new Date(r.created).toISOString(),
              r.persistent ? 'yes' : 'no',
              r.cluster,
            ]),
          ),
        );
        for (const e of errors) log(`Warning: ${e}`);
      }),
    );
  storage
    .command('delete')
    .description('Delete buckets SkyRun created, with their data')
    .argument('[names...]')
    .option('-a, --all', 'every bucket SkyRun created')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(
      act(async (names: string[], opts: { all?: boolean; yes?: boolean }) => {
        const { deleteStorage, listStorage } = await storageModule();
        if (opts.all) names = (await listStorage()).rows.map((r) => r.name);
        else if (!names.length) throw new CliError('give storage names, or -a for all', ExitCode.INVALID_INPUT);
        if (!names.length) {
          log('No storage to delete.');
          return ExitCode.SUCCEEDED;
        }
        await confirm(`Deleting storage ${names.join(', ')} and all data in it. Proceed?`, opts.yes);
        let code: number = ExitCode.SUCCEEDED;
        for (const n of names) {
          try {
            const stores = await deleteStorage(n);
            log(`Deleted storage ${n} (${stores.map((s) => s.toUpperCase()).join(', ')}).`);
          } catch (e) {
            log(`Error: ${(e as Error).message}`);
            code = ExitCode.ERROR;
          }
        }
        return code;
      }),
    );
}
