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
  server
    .command('start')
    .description('Start the embedded Temporal dev server and the background worker (no-op when running)')
    .option('--ui', 'also serve the Temporal web UI (off by default: its HTTP API reaches every workflow)')
    .action(
      act(async (opts: { ui?: boolean }) => {
        const embedded = await import('../../worker/runtime/embedded');
        const { started, status } = await embedded.startServer(log, { ui: opts.ui });
        await embedded.ensureWorker();
        const ui = status.uiUrl ? `UI ${status.uiUrl}` : 'no UI';
        console.log(`${started ? 'Started' : 'Already running'}: ${status.address}, ${ui}, data ${status.dbFile}`);
        if (!started && opts.ui && !status.uiUrl) {
          log('The server runs without its UI; restart it with: skyrun server stop && skyrun server start --ui');
        }
      }),
    );
  server
    .command('status')
    .description('Whether the embedded server and the worker run, and where (exit 1 when the server is stopped)')
    .action(
      act(async () => {
        const embedded = await import('../../worker/runtime/embedded');
        const s = await embedded.serverStatus();
        const w = await embedded.workerStatus();
        console.log(
          `server: ${s.running ? `running (pid ${s.pid}) on ${s.address}, ${s.uiUrl ? `UI ${s.uiUrl}` : 'no UI'}` : 'stopped'}`,
        );
        console.log(
          `worker: ${w.running ? `running (pid ${w.pid})${w.current ? '' : ', from an older build'}` : 'stopped'}` +
            (embedded.supervisorRunning() ? ', restarted by its supervisor if it dies' : ''),
        );
        return s.running ? ExitCode.SUCCEEDED : ExitCode.ERROR;
      }),
    );
  server
    .command('stop')
    .description('Stop the embedded server and the background worker (clusters and jobs stay recorded)')
    .action(
      act(async () => {
        const embedded = await import('../../worker/runtime/embedded');
        console.log((await embedded.stopServer()) ? 'Stopped the server and worker.' : 'The server was not running.');
      }),
    );
}
