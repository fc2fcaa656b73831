/**
 * What every command group shares: the error whose code becomes the exit code, the log (stderr:
 * stdout is for tables), the action wrapper's type, confirmation, and the one way to talk to the
 * server, `withClient`.
 */
import * as readline from 'node:readline';
import { ExitCode } from '../../core/states';
import type { SkyrunClient } from '../client';

/** An error the CLI reports as its message alone, exiting with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number = ExitCode.ERROR,
  ) {
    super(message);
  }
}

export const log = (m: string) => process.stderr.write(m + '\n');

/** Wraps an action so the exit code it returns becomes the process's (client/cli.ts keeps it). */
export type Act = <A extends unknown[]>(fn: (...args: A) => Promise<number | void>) => (...args: A) => Promise<void>;

/**
 * Connect (starting the embedded server, and the worker unless `needWorker: false`), run `fn`, and
 * close the connection however `fn` ends. The client module loads only here.
 */
export async function withClient<T>(
  opts: { needWorker?: boolean },
  fn: (client: SkyrunClient) => Promise<T>,
): Promise<T> {
  const { SkyrunClient } = await import('../client');
  const client = await SkyrunClient.connect({ log, ...opts });
  const watch =
    opts.needWorker === false ? undefined : (await import('../worker-watch')).watchWorker(client.client, log);
  try {
    return await fn(client);
  } finally {
    watch?.stop();
    await client.close();
  }
}

/** Ask on the terminal unless -y was given; no terminal and no -y refuses. */
export async function confirm(question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY)
    throw new CliError(
      `${question}\nNot confirmed: stdin is not a terminal, so there is no one to ask; pass -y to proceed.`,
    );
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  const answer = await new Promise<string>((r) => rl.question(`${question} [Y/n] `, r));
  rl.close();
  if (answer.trim() && !/^y(es)?$/i.test(answer.trim())) throw new CliError('Aborted.');
}
