/** Entry point of the worker process (`skyrun worker`, or started in the background). */
import { runWorker } from './worker';

runWorker({ background: process.argv.includes('--background') }).catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
