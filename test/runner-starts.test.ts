/**
 * Starting phases safely, on the local runner and the SSH runner (a real sshd on loopback):
 * many concurrent starts of one phase run it exactly once, round after round; an environment
 * no process can get is an 'invalid' error that never quotes a value; a missing script fails
 * the phase instead of passing it; a stale pid file never gets an unrelated process killed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ProviderError } from '../core/errors';
import { LocalRunner, WRAPPER, jobDir, processAlive } from '../activities/infra/runners/local';
import type { Runner } from '../activities/infra/runners/runner';
import { SshRunner, closeAllSsh } from '../activities/infra/runners/ssh';
import { eventually } from './helpers/skyrun';
import { startSshd, type FakeHost } from './helpers/sshd';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'skyrun-starts-'));
process.env.SKYRUN_HOME = path.join(tmp, 'skyrun-home');
const PATH = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
let sshd: FakeHost;
const sleepers: ChildProcess[] = [];

beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  for (const s of sleepers) if (s.exitCode === null) s.kill('SIGKILL');
  await closeAllSsh();
  await sshd?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Kind {
  name: string;
  /** runners of one node, on as many connections as there are (SSH: one per key file copy) */
  runners(): Runner[];
  /** the node's job folder for a job id */
  jobDir(jobId: number): string;
}

const localRoot = path.join(tmp, 'local-node');
const kinds: Kind[] = [
  {
    name: 'local',
    runners: () => [new LocalRunner(localRoot)],
    jobDir: (id) => jobDir(localRoot, id),
  },
  {
    name: 'ssh',
    runners: () =>
      // a copy of the key is another pooled connection: starts race across connections too
      [0, 1, 2, 3].map((i) => {
        const key = path.join(tmp, `key${i}`);
        if (!existsSync(key)) copyFileSync(sshd.identityFile, key);
        return new SshRunner({ kind: 'ssh', host: sshd.host, port: sshd.port, user: sshd.user, identityFile: key });
      }),
    jobDir: (id) => path.join(sshd.home, '.skyrun-node', 'jobs', String(id)),
  },
];

const ROUNDS = 30;
const CALLERS = 20;

describe.each(kinds)('$name runner', (kind) => {
  const base = kind.name === 'local' ? 1000 : 2000;

  test(`${CALLERS} concurrent starts of one phase run it exactly once, ${ROUNDS} times over`, async () => {
    const runners = kind.runners();
    const counts = path.join(tmp, `counts-${kind.name}`);
    mkdirSync(counts, { recursive: true });
    for (let round = 0; round < ROUNDS; round++) {
      const jobId = base + round;
      const req = {
        jobId,
        phase: 'run' as const,
        // a long script, its effect at the end: a start that rewrote it under a running wrapper
        // would leave bash a truncated or empty script, which runs nothing and exits 0
        script: `# ${'x'.repeat(256 * 1024)}\necho ran >> ${counts}/${round}\necho log-line`,
        env: { ...PATH, ROUND: String(round) },
      };
      // callers arrive over a few milliseconds: some while the first wrapper starts up
      await Promise.all(
        Array.from({ length: CALLERS }, async (_, i) => {
          await new Promise((r) => setTimeout(r, i % 5 === 0 ? 0 : Math.random() * 15));
          await runners[i % runners.length]!.startDetached(req);
        }),
      );
    }
    const runner = runners[0]!;
    for (let round = 0; round < ROUNDS; round++) {
      const jobId = base + round;
      await eventually(async () => (await runner.phaseState(jobId, 'run')).state === 'done');
      expect([round, await runner.phaseState(jobId, 'run')]).toEqual([round, { state: 'done', exitCode: 0 }]);
      expect([round, readFileSync(path.join(counts, String(round)), 'utf8')]).toEqual([round, 'ran\n']);
      expect([round, (await runner.readLog(jobId, 0)).data.toString()]).toEqual([round, 'log-line\n']);
    }
  }, 180_000);

  test('an environment the OS refuses: invalid at once, the message names the condition, never the value', async () => {
    const runner = kind.runners()[0]!;
    const secret = 'S3CRET-VALUE-';
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ BIG: secret + 'x'.repeat(3 << 20) }, /BIG.* too large for the OS \(E2BIG\)/],
      [{ NUL: `${secret}\0tail` }, /a value holds a NUL byte/],
    ];
    if (kind.name === 'local')
      // each variable fits, all together do not: the OS says E2BIG when the wrapper starts
      cases.push([
        Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`V${i}`, secret + 'y'.repeat(100_000)])),
        /environment is too large for the OS \(E2BIG\)/,
      ]);
    for (const [i, [env, message]] of cases.entries()) {
      const started = Date.now();
      const err = await runner
        .startDetached({ jobId: base + 100 + i, phase: 'run', script: 'true', env })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect((err as ProviderError).errorClass).toBe('invalid');
      expect((err as ProviderError).message).toMatch(message);
      expect((err as ProviderError).message).not.toContain(secret);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await runner.phaseState(base + 100 + i, 'run')).toEqual({ state: 'absent' });
    }
  });

  test('a stale pid file naming an unrelated live process: kill leaves it alone, the phase is lost', async () => {
    const runner = kind.runners()[0]!;
    const jobId = base + 200;
    // a process group leader, as a wrapper is: a careless kill(-pid) would end it
    const sleeper = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    sleepers.push(sleeper);
    mkdirSync(kind.jobDir(jobId), { recursive: true });
    writeFileSync(path.join(kind.jobDir(jobId), 'run.pid'), `${sleeper.pid}\n`);
    expect(await runner.phaseState(jobId, 'run')).toEqual({ state: 'lost' });
    await runner.kill(jobId);
    expect(processAlive(sleeper.pid!)).toBe(true);
    expect(await runner.phaseState(jobId, 'run')).toEqual({ state: 'done', exitCode: 143 });
  });
});

test('the wrapper refuses a missing script: the phase fails (127) with the reason in its log', () => {
  const d = jobDir(path.join(tmp, 'bare-node'), 1);
  mkdirSync(d, { recursive: true });
  for (const [phase, extra] of [
    ['setup', {}],
    ['run', { SKYRUN_ENV_FILE: '1' }], // over SSH the env file must be there too
  ] as const) {
    if (phase === 'run') writeFileSync(path.join(d, 'run.sh'), 'echo must not run');
    const r = spawnSync('bash', ['-c', WRAPPER], {
      env: { ...PATH, SKYRUN_JOB_DIR: d, SKYRUN_PHASE: phase, SKYRUN_CWD: tmp, ...extra },
    });
    expect(r.status).toBe(0);
    expect(readFileSync(path.join(d, `${phase}.exit`), 'utf8')).toBe('127\n');
  }
  const log = readFileSync(path.join(d, 'log'), 'utf8');
  expect(log).toContain('skyrun: the setup script is missing');
  expect(log).toContain('skyrun: the run environment is missing');
  expect(log).not.toContain('must not run');
});
