/** `skyrun server` (the embedded Temporal dev server and background worker) and `skyrun worker`. */
import type { Command } from 'commander';
import { ExitCode } from '../../core/states';
import { log, type Act } from './shared';

export function register(program: Command, act: Act): void {
  program
    .command('worker')
    .description('Run a SkyRun worker in the foreground (production: against TEMPORAL_ADDRESS / an envconfig profile)')
    .action(
      act(async () => {
        const { runWorker } = await import('../../worker/worker');
        await runWorker({ background: false });
      }),
    );

  const server = program.command('server').description('Manage the embedded Temporal dev server');
  server.command('start').action(
    act(async () => {
      const embedded = await import('../../worker/runtime/embedded');
      const { started, status } = await embedded.startServer(log);
      await embedded.ensureWorker();
      console.log(
        `${started ? 'Started' : 'Already running'}: ${status.address}, UI ${status.uiUrl}, data ${status.dbFile}`,
      );
    }),
  );
  server.command('status').action(
    act(async () => {
      const embedded = await import('../../worker/runtime/embedded');
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
      const embedded = await import('../../worker/runtime/embedded');
      console.log((await embedded.stopServer()) ? 'Stopped the server and worker.' : 'The server was not running.');
    }),
  );
}
