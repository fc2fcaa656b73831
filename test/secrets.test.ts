/**
 * Secrets stay secret: no secret value in workflow history, the dev server's database, the
 * worker's log, the process list while the job runs, or `skyrun launch`/`logs` output; and
 * everything under SKYRUN_HOME is private to its owner.
 */
import { lstatSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { dataConverter } from '../worker/runtime/codec';
import { eventually, SkyrunEnv } from './helpers/skyrun';

jest.setTimeout(300_000);

const FROM_FILE = 'file-secret-4a7c91e2';
const FROM_ENV = 'env-secret-b83f0d55';
const NUL_TAIL = 'nul-secret-tail-5e1d';

let sr: SkyrunEnv;
let keyed: Client;
let connection: Connection;
let tasks: string;

beforeAll(async () => {
  sr = await SkyrunEnv.create('secrets');
  tasks = mkdtempSync(path.join(os.tmpdir(), 'skyrun-secrets-tasks-'));
  expect((await sr.run(['server', 'start'])).code).toBe(0);
  const key = Buffer.from(readFileSync(path.join(sr.home, 'codec.key'), 'utf8').trim(), 'base64');
  connection = await Connection.connect({ address: sr.address });
  keyed = new Client({ connection, dataConverter: dataConverter(key) });
});

afterAll(async () => {
  await connection?.close();
  await sr?.dispose();
});

/** Every file under `dir` (no symlinks followed). */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? [p, ...walk(p)] : [p];
  });
}

/** The command lines of every process on this machine. */
function processList(): string {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'latin1');
      } catch {
        return '';
      }
    })
    .join('\n');
}

test('a secret appears in no history, database, log, process list or CLI output', async () => {
  const secretFile = path.join(tasks, 'secrets.env');
  writeFileSync(secretFile, `# the job's token\nFILE_TOKEN="${FROM_FILE}"\n`, { mode: 0o600 });
  const run = 'echo "file=$FILE_TOKEN env=$ENV_TOKEN"; sleep 4; echo "again $FILE_TOKEN"';
  const launch = sr.spawn(
    ['launch', '-y', '-c', 'sec', '--secret-file', secretFile, '--secret', 'ENV_TOKEN', '--', run],
    { env: { ENV_TOKEN: FROM_ENV } },
  );
  // while the job runs, no process's command line holds a value
  await eventually(async () => {
    const h = keyed.workflow.getHandle('cluster/sec');
    const info = await h.query('status').catch(() => undefined);
    return (info as { jobs?: Array<{ status: string }> })?.jobs?.[0]?.status === 'RUNNING';
  });
  const ps = processList();
  expect(ps).toContain('ENV_TOKEN'); // the name only
  expect(ps).not.toContain(FROM_FILE);
  expect(ps).not.toContain(FROM_ENV);
  const out = await launch.result;
  expect(out.code).toBe(0);
  expect(out.stdout).toContain('file=<redacted> env=<redacted>');
  expect(out.stdout).toContain('again <redacted>');

  // a later `skyrun logs` knows the secrets too (from the workflow, asked with the key)
  const logs = await sr.run(['logs', 'sec', '1']);
  expect(logs.code).toBe(0);
  expect(logs.stdout).toContain('file=<redacted> env=<redacted>');
  expect(logs.stdout + logs.stderr).not.toContain(FROM_FILE);
  expect(logs.stdout + logs.stderr).not.toContain(FROM_ENV);

  // a secret whose error text used to carry it: Node quotes the value it refuses
  // past the CLI's NUL check: submitted with a keyed client, as another client could
  const h = keyed.workflow.getHandle('cluster/sec');
  const { jobId } = (await h.executeUpdate('submitJob', {
    args: [
      {
        run: 'echo never',
        envs: {},
        secrets: { NUL_TOKEN: `abc\0${NUL_TAIL}` },
        numGpusPerNode: 0,
        cpuDemand: 0.5,
      },
    ],
  })) as { jobId: number };
  const failed = await eventually(async () => {
    const info = (await h.query('status')) as { jobs: Array<{ id: number; status: string; failureReason?: string }> };
    const job = info.jobs.find((j) => j.id === jobId);
    return job?.status === 'FAILED_DRIVER' ? job : undefined;
  });
  expect(failed.failureReason).toContain('NUL');

  const history = JSON.stringify(await h.fetchHistory());
  for (const s of [FROM_FILE, FROM_ENV, NUL_TAIL]) {
    expect(history).not.toContain(s);
    expect(history).not.toContain(Buffer.from(s).toString('base64'));
  }
  const files = walk(sr.home).filter((f) => lstatSync(f).isFile());
  expect(files.some((f) => f.endsWith('temporal.db'))).toBe(true);
  expect(files.some((f) => f.endsWith('worker.log'))).toBe(true);
  for (const f of files.filter((f) => /temporal\.db|worker\.log|server\.log/.test(f))) {
    const bytes = readFileSync(f);
    for (const s of [FROM_FILE, FROM_ENV, NUL_TAIL])
      expect({ f, found: bytes.includes(s) }).toEqual({ f, found: false });
  }
  expect((await sr.run(['down', '-y', 'sec'])).code).toBe(0);
});

test('SKYRUN_HOME and everything SkyRun created in it are private to their owner', () => {
  const loose = [sr.home, ...walk(sr.home)]
    .map((f) => ({ f, st: lstatSync(f) }))
    .filter(({ st }) => !st.isSymbolicLink() && (st.mode & 0o077) !== 0)
    .map(({ f, st }) => `${(st.mode & 0o777).toString(8)} ${f}`);
  expect(loose).toEqual([]);
  expect(lstatSync(sr.home).mode & 0o777).toBe(0o700);
});

test('--secret help says a NAME=VALUE argument shows in ps and offers --secret-file', async () => {
  const help = await sr.run(['launch', '--help']);
  expect(help.stdout).toContain('--secret-file');
  expect(help.stdout.replace(/\s+/g, ' ')).toContain('visible to every local user in `ps`');
});

test("a managed job's log is redacted by `skyrun jobs logs` too", async () => {
  const launched = await sr.run(
    ['jobs', 'launch', '-y', '-d', '-n', 'secjob', '--secret', 'ENV_TOKEN', '--', 'echo "token=$ENV_TOKEN"'],
    {
      env: { ENV_TOKEN: FROM_ENV },
    },
  );
  expect(launched.code).toBe(0);
  const id = Number(/Managed job (\d+) \(/.exec(launched.stderr)![1]);
  await eventually(async () => /SUCCEEDED/.test((await sr.run(['jobs', 'queue'])).stdout), 90_000);
  const logs = await sr.run(['jobs', 'logs', String(id)]);
  expect(logs.stdout).toContain('token=<redacted>');
  expect(logs.stdout + logs.stderr).not.toContain(FROM_ENV);
});
