/** The SSH runner against real sshd processes on loopback addresses (test/helpers/sshd.ts). */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ProviderError } from '../core/errors';
import { runnerFor } from '../activities/infra/runners';
import { processAlive } from '../activities/infra/runners/local';
import { waitForPhase } from '../activities/infra/runners/runner';
import { SshRunner, closeAllSsh, isIgnored, parseIgnore, shq, type SshSpec } from '../activities/infra/runners/ssh';
import { mvShim } from './helpers/mv-shim';
import { eventually } from './helpers/skyrun';
import { makeClientKey, startSshd, type FakeHost } from './helpers/sshd';

let key: string;
let a: FakeHost;
let b: FakeHost;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'skyrun-ssh-test-'));
// host keys are recorded (trust on first use) under SKYRUN_HOME: never the user's own
process.env.SKYRUN_HOME = path.join(tmp, 'skyrun-home');

const spec = (h: FakeHost, extra: Partial<SshSpec> = {}): SshSpec => ({
  kind: 'ssh',
  host: h.host,
  port: h.port,
  user: h.user,
  identityFile: h.identityFile,
  ...extra,
});
const jobDir = (h: FakeHost, id: number) => path.join(h.home, '.skyrun-node', 'jobs', String(id));

// every value a careless runner would break; `$(...)` and backticks would touch the canary
const canary = path.join(tmp, 'canary');
const NASTY = [
  `it's`,
  `say "hi"`,
  `$(rm -rf /)`,
  `$(touch ${canary})`,
  `\`touch ${canary}\``,
  `two\nlines\n`,
  `  spaces  and\ttab `,
  `'\\''; touch ${canary}; '`,
  `$HOME \\ $$ !x *`,
  '',
];

beforeAll(async () => {
  key = makeClientKey();
  [a, b] = await Promise.all([startSshd({ clientKey: key }), startSshd({ clientKey: key })]);
});
afterAll(async () => {
  await closeAllSsh();
  await Promise.all([a?.stop(), b?.stop()]);
  rmSync(path.dirname(key), { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

test('shq quotes single quotes and leaves nothing for the shell to expand', () => {
  expect(shq(`it's`)).toBe(`'it'\\''s'`);
  expect(shq('')).toBe(`''`);
});

test('exec: arguments arrive byte-exact, on a connection pooled per host', async () => {
  const runner = new SshRunner(spec(a));
  for (const v of NASTY) {
    const r = await runner.exec(['printf', '%s', v]);
    expect(r).toEqual({ code: 0, stdout: v, stderr: '' });
  }
  expect((await runner.exec(['sh', '-c', 'exit 3'])).code).toBe(3);
  // more concurrent requests than sshd's MaxSessions (10) allows channels on one connection
  const many = await Promise.all(Array.from({ length: 40 }, (_, i) => runner.exec(['echo', String(i)])));
  expect(many.map((r) => r.stdout)).toEqual(Array.from({ length: 40 }, (_, i) => `${i}\n`));
  // each fake host has its own ~ (sshd_config SetEnv HOME)
  expect((await runner.exec(['sh', '-c', 'cd ~ && pwd'])).stdout.trim()).toBe(a.home);
  expect((await new SshRunner(spec(b)).exec(['sh', '-c', 'cd ~ && pwd'])).stdout.trim()).toBe(b.home);
  expect(existsSync(canary)).toBe(false);
});

test('concurrent and repeated starts of one phase run it exactly once', async () => {
  const runner = runnerFor(spec(a));
  const counter = path.join(tmp, 'count');
  const req = {
    jobId: 1,
    phase: 'run' as const,
    script: `echo x >> ${counter}; echo out-$RANKVAR`,
    env: { RANKVAR: 'r0' },
  };
  // two runners for one host share the pooled connection; starts race each other
  const other = runnerFor(spec(a));
  await Promise.all([
    runner.startDetached(req),
    other.startDetached(req),
    runner.startDetached(req),
    other.startDetached(req),
  ]);
  await runner.startDetached(req);
  await eventually(async () => (await runner.phaseState(1, 'run')).state === 'done');
  await runner.startDetached(req); // after it finished: still adopted, not re-run
  expect(readFileSync(counter, 'utf8')).toBe('x\n');
  expect(await runner.phaseState(1, 'run')).toEqual({ state: 'done', exitCode: 0 });
  expect((await runner.readLog(1, 0)).data.toString()).toBe('out-r0\n');
  expect(statSync(path.join(jobDir(a, 1), 'run.env')).mode & 0o777).toBe(0o600);
});

test('the wrapper runs its last command in a child, never by exec in its own pid (that read as lost)', async () => {
  const runner = new SshRunner(spec(a));
  const shim = mvShim(tmp);
  // the env file is sourced before the script: the exit file's mv is the shim's
  await runner.startDetached({
    jobId: 90,
    phase: 'run',
    script: 'true',
    env: { PATH: `${shim.bin}:${process.env.PATH}` },
  });
  await eventually(async () => (await runner.phaseState(90, 'run')).state === 'done');
  const wrapper = Number(readFileSync(path.join(jobDir(a, 90), 'run.pid'), 'utf8'));
  expect(shim.pids()).toHaveLength(1);
  expect(shim.pids()).not.toContain(wrapper);
});

test('many short jobs started back to back and watched closely: none reads lost', async () => {
  const runner = new SshRunner(spec(b));
  const seen: string[] = [];
  const watch = async (id: number) => {
    for (;;) {
      const states = await Promise.all([1, 2, 3].map(() => runner.phaseState(id, 'run')));
      seen.push(...states.map((s) => `${id}:${s.state}`));
      if (states.every((s) => s.state === 'done' || s.state === 'lost')) return;
    }
  };
  const watchers: Promise<void>[] = [];
  for (let id = 100; id < 140; id++) {
    await runner.startDetached({ jobId: id, phase: 'run', script: 'true', env: {} });
    watchers.push(watch(id));
  }
  await Promise.all(watchers);
  expect(seen.filter((s) => s.endsWith(':lost'))).toEqual([]);
  for (let id = 100; id < 140; id++) expect(await runner.phaseState(id, 'run')).toEqual({ state: 'done', exitCode: 0 });
});

test('waitPhase: the state once the phase ended (one wait on the node), or still running at the limit', async () => {
  const runner = new SshRunner(spec(a));
  await runner.startDetached({ jobId: 91, phase: 'run', script: 'sleep 0.3; exit 4', env: {} });
  expect(await waitForPhase(runner, 91, 'run', 5000)).toEqual({ state: 'done', exitCode: 4 });
  await runner.startDetached({ jobId: 92, phase: 'run', script: 'sleep 300', env: {} });
  expect((await waitForPhase(runner, 92, 'run', 200)).state).toBe('running');
  await runner.kill(92);
  expect(await waitForPhase(runner, 92, 'run', 5000)).toEqual({ state: 'done', exitCode: 143 });
});

test('states: absent, running, done with the exit code; the cwd is ~/sky_workdir; log ranges', async () => {
  const runner = new SshRunner(spec(b));
  expect(await runner.phaseState(2, 'run')).toEqual({ state: 'absent' });
  await runner.startDetached({ jobId: 2, phase: 'run', script: 'pwd; printf 0123456789; sleep 1; exit 5', env: {} });
  const running = await runner.phaseState(2, 'run');
  expect(running.state).toBe('running');
  await eventually(async () => (await runner.phaseState(2, 'run')).state === 'done');
  expect(await runner.phaseState(2, 'run')).toEqual({ state: 'done', exitCode: 5 });
  const cwd = `${path.join(b.home, 'sky_workdir')}\n`;
  const all = await runner.readLog(2, 0);
  expect(all.data.toString()).toBe(`${cwd}0123456789`);
  const part = await runner.readLog(2, cwd.length + 2, 3);
  expect(part).toEqual({ data: Buffer.from('234'), offset: cwd.length + 5 });
  expect((await runner.readLog(2, all.offset)).data.length).toBe(0);
  expect((await runner.readLog(99, 0)).data.length).toBe(0);
});

test('kill ends the whole remote process tree and records 143', async () => {
  const runner = new SshRunner(spec(a));
  const childPidFile = path.join(tmp, 'child.pid');
  await runner.startDetached({
    jobId: 3,
    phase: 'run',
    script: `sleep 300 & echo $! > ${childPidFile}; wait`,
    env: {},
  });
  const childPid = Number(
    await eventually(() => {
      try {
        return readFileSync(childPidFile, 'utf8');
      } catch {
        return undefined;
      }
    }),
  );
  expect(processAlive(childPid)).toBe(true);
  await runner.kill(3);
  expect(processAlive(childPid)).toBe(false);
  expect(await runner.phaseState(3, 'run')).toEqual({ state: 'done', exitCode: 143 });
  await runner.kill(3); // idempotent
});

test('env values arrive byte-exact and are never run', async () => {
  const runner = new SshRunner(spec(b));
  const env = Object.fromEntries(NASTY.map((v, i) => [`V${i}`, v]));
  const script = NASTY.map((_, i) => `printf '%s\\0' "$V${i}"`).join('\n');
  await runner.startDetached({ jobId: 4, phase: 'setup', script, env });
  await eventually(async () => (await runner.phaseState(4, 'setup')).state === 'done');
  const { data } = await runner.readLog(4, 0);
  expect(data.toString().split('\0').slice(0, -1)).toEqual(NASTY);
  expect(existsSync(canary)).toBe(false);
  await expect(
    runner.startDetached({ jobId: 5, phase: 'run', script: 'true', env: { 'A;B': 'x' } }),
  ).rejects.toMatchObject({ errorClass: 'invalid' });
});

test('a dropped connection: the job keeps running; the runner reconnects and reads its exit and full log', async () => {
  const runner = new SshRunner(spec(a));
  await runner.startDetached({ jobId: 6, phase: 'run', script: 'echo before; sleep 2; echo after; exit 7', env: {} });
  expect((await runner.phaseState(6, 'run')).state).toBe('running');
  a.dropConnections(); // kills sshd's session processes: the pooled connection dies
  expect((await runner.phaseState(6, 'run')).state).toBe('running');
  a.dropConnections();
  await eventually(async () => (await runner.phaseState(6, 'run')).state === 'done');
  expect(await runner.phaseState(6, 'run')).toEqual({ state: 'done', exitCode: 7 });
  expect((await runner.readLog(6, 0)).data.toString()).toBe('before\nafter\n');
});

test('proxyCommand: the connection goes through the command with %h and %p substituted', async () => {
  const c = await startSshd({ clientKey: key });
  try {
    const marker = path.join(tmp, 'proxied');
    const proxyCommand = `echo %r@%h:%p >> ${marker}; exec 3<>/dev/tcp/%h/%p; cat <&3 & cat >&3`;
    const runner = new SshRunner(spec(c, { proxyCommand }));
    expect((await runner.exec(['echo', 'via proxy'])).stdout).toBe('via proxy\n');
    await runner.startDetached({ jobId: 7, phase: 'run', script: 'echo proxied-job', env: {} });
    await eventually(async () => (await runner.phaseState(7, 'run')).state === 'done');
    expect((await runner.readLog(7, 0)).data.toString()).toBe('proxied-job\n');
    expect(readFileSync(marker, 'utf8')).toBe(`root@${c.host}:${c.port}\n`); // one pooled connection
    const broken = new SshRunner(spec(c, { proxyCommand: 'echo no route to %h >&2; exit 1' }));
    await expect(broken.exec(['true'])).rejects.toMatchObject({
      errorClass: 'transient',
      message: `ssh root@${c.host}:${c.port}: proxy command failed: no route to ${c.host}`,
    });
  } finally {
    await closeAllSsh();
    await c.stop();
  }
});

test('syncWorkdir honours .gitignore, then .skyignore, excludes .git, and sends only changed files', async () => {
  const src = path.join(tmp, 'wd');
  const put = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    writeFileSync(path.join(src, rel), text);
  };
  put('.gitignore', '# comment\n*.log\n!keep.log\nbuild/\n/top.txt\ndata/**/*.bin\n');
  put('main.py', 'print(1)\n');
  put('a.log', 'x');
  put('keep.log', 'kept');
  put('top.txt', 'ignored at the top');
  put('sub/top.txt', 'kept below the top');
  put('build/out.o', 'x');
  put('sub/build/out.o', 'x');
  put('data/x/y/z.bin', 'x');
  put('data/z.bin', 'x');
  put('data/ok.txt', 'ok');
  put('.git/HEAD', 'ref');
  put('dir with space/it\'s "odd".txt', 'odd');
  put('-m000/-p.txt', 'a folder name that looks like an option'); // mkdir must not take it as one
  const runner = new SshRunner(spec(b));
  const remote = path.join(b.home, 'sky_workdir');
  await runner.syncWorkdir(src);
  const has = (rel: string) => existsSync(path.join(remote, rel));
  for (const rel of [
    '.gitignore',
    'main.py',
    'keep.log',
    'sub/top.txt',
    'data/ok.txt',
    'dir with space/it\'s "odd".txt',
    '-m000/-p.txt',
  ])
    expect([rel, has(rel)]).toEqual([rel, true]);
  for (const rel of ['a.log', 'top.txt', 'build', 'sub/build', 'data/x/y/z.bin', 'data/z.bin', '.git'])
    expect([rel, has(rel)]).toEqual([rel, false]);
  expect(readFileSync(path.join(remote, 'main.py'), 'utf8')).toBe('print(1)\n');

  // incremental: a remote copy with the local size and mtime is not sent again
  const mtime = statSync(path.join(src, 'keep.log')).mtime;
  writeFileSync(path.join(remote, 'keep.log'), 'KEPT');
  utimesSync(path.join(remote, 'keep.log'), mtime, mtime);
  put('main.py', 'print(2)\n');
  utimesSync(path.join(src, 'main.py'), new Date(Date.now() + 5000), new Date(Date.now() + 5000));
  await runner.syncWorkdir(src);
  expect(readFileSync(path.join(remote, 'keep.log'), 'utf8')).toBe('KEPT');
  expect(readFileSync(path.join(remote, 'main.py'), 'utf8')).toBe('print(2)\n');

  // .skyignore, when present, replaces .gitignore
  put('.skyignore', 'main.py\n');
  rmSync(remote, { recursive: true });
  await runner.syncWorkdir(src);
  expect(has('main.py')).toBe(false);
  expect(has('a.log')).toBe(true);
  expect(has('build/out.o')).toBe(true);
  expect(has('.git')).toBe(false);
});

test('ignore patterns: *, **, trailing /, leading /, negation', () => {
  const rules = parseIgnore('*.pyc\n/dist\nlogs/\n**/tmp/*.txt\n!important.pyc\nsrc/**/gen\n');
  expect(isIgnored(rules, 'a/b/c.pyc', false)).toBe(true);
  expect(isIgnored(rules, 'a/important.pyc', false)).toBe(false);
  expect(isIgnored(rules, 'dist', true)).toBe(true);
  expect(isIgnored(rules, 'a/dist', true)).toBe(false);
  expect(isIgnored(rules, 'x/logs', true)).toBe(true);
  expect(isIgnored(rules, 'x/logs', false)).toBe(false);
  expect(isIgnored(rules, 'tmp/a.txt', false)).toBe(true);
  expect(isIgnored(rules, 'q/r/tmp/a.txt', false)).toBe(true);
  expect(isIgnored(rules, 'src/gen', true)).toBe(true);
  expect(isIgnored(rules, 'src/a/b/gen', true)).toBe(true);
});

test('a key the host does not accept is an auth ProviderError with a one-line message', async () => {
  const wrong = path.join(tmp, 'wrong_key');
  require('node:child_process').execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
  const runner = new SshRunner(spec(a, { identityFile: wrong }));
  const err = await runner.exec(['true']).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProviderError);
  expect((err as ProviderError).errorClass).toBe('auth');
  expect((err as ProviderError).message).toBe(
    `ssh root@${a.host}:${a.port}: authentication failed (key not accepted for this user)`,
  );
  const missing = await new SshRunner(spec(a, { identityFile: path.join(tmp, 'nope'), user: 'x' }))
    .exec(['true'])
    .catch((e: unknown) => e);
  expect((missing as ProviderError).errorClass).toBe('config');
  const refused = await new SshRunner({ ...spec(a), port: 1, user: 'y' }).exec(['true']).catch((e: unknown) => e);
  expect(refused).toMatchObject({
    errorClass: 'transient',
    message: `ssh y@${a.host}:1: connection failed: ECONNREFUSED`,
  });
});
