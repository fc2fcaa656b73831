/**
 * The Kubernetes runner against a real API server (test/helpers/kube.ts: etcd, kube-apiserver,
 * kube-scheduler, kwok). Exec into a fake pod runs on this host in the pod's own folder (its
 * HOME), so what a job leaves is read straight from podDir().
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { stringify, parse } from 'yaml';
import { podShell } from '../activities/infra/inspect';
import { runnerFor } from '../activities/infra/runners';
import { KubeRunner, type KubeSpec } from '../activities/infra/runners/kube';
import { processAlive } from '../activities/infra/runners/local';
import { startKubeCluster, type KubeCluster } from './helpers/kube';
import { eventually } from './helpers/skyrun';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'skyrun-kube-runner-'));
process.env.SKYRUN_HOME = path.join(tmp, 'skyrun-home');
const CTX = 'kube-a';
const NS = 'ns-a';
let cluster: KubeCluster;

const spec = (pod: string, extra: Partial<KubeSpec> = {}): KubeSpec => ({
  kind: 'kube',
  context: CTX,
  namespace: NS,
  pod,
  container: 'main',
  ...extra,
});
const home = (pod: string) => cluster.podDir(NS, pod);
const jobDir = (pod: string, id: number) => path.join(home(pod), '.skyrun-node', 'jobs', String(id));

// every value a careless runner would break; `$(...)` and backticks would touch the canary
const canary = path.join(tmp, 'canary');
const NASTY = [
  `it's`,
  `say "hi"`,
  `$(touch ${canary})`,
  `\`touch ${canary}\``,
  `two\nlines\n`,
  `  spaces  and\ttab `,
  `'\\''; touch ${canary}; '`,
  `$HOME \\ $$ !x * ~/x`,
  'ünïcödé ✓ 日本語',
  '~/not-expanded-in-env',
  '',
];

async function createPod(name: string): Promise<void> {
  await cluster.core(CTX).createNamespacedPod({
    namespace: NS,
    body: {
      metadata: { name },
      spec: { containers: [{ name: 'main', image: 'ubuntu' }], restartPolicy: 'Never' },
    },
  });
  await eventually(
    async () => (await cluster.core(CTX).readNamespacedPod({ name, namespace: NS })).status?.phase === 'Running',
    30_000,
  );
}

beforeAll(async () => {
  cluster = await startKubeCluster({ contexts: [{ name: CTX, namespace: NS }] });
  process.env.KUBECONFIG = cluster.kubeconfig;
  await cluster.addNode({ name: 'cpu-node', cpus: 16, memoryGiB: 64 });
  await Promise.all([createPod('p1'), createPod('p2')]);
}, 240_000);

afterAll(async () => {
  await cluster?.stop();
  rmSync(tmp, { recursive: true, force: true });
}, 60_000);

test('exec: arguments arrive byte-exact, exit codes come back, each pod has its own ~', async () => {
  const runner = new KubeRunner(spec('p1'));
  for (const v of NASTY) expect(await runner.exec(['printf', '%s', v])).toEqual({ code: 0, stdout: v, stderr: '' });
  expect(await runner.exec(['sh', '-c', 'echo oops >&2; exit 3'])).toEqual({ code: 3, stdout: '', stderr: 'oops\n' });
  expect((await runner.exec(['sh', '-c', 'cd ~ && pwd'])).stdout.trim()).toBe(home('p1'));
  expect((await new KubeRunner(spec('p2')).exec(['sh', '-c', 'cd ~ && pwd'])).stdout.trim()).toBe(home('p2'));
  // round trip, and many at once (each exec is its own websocket)
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = Date.now();
    await runner.exec(['true']);
    times.push(Date.now() - t0);
  }
  times.sort((x, y) => x - y);
  console.log(`exec round trip: median ${times[5]} ms, min ${times[0]} ms, max ${times[9]} ms`);
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => runner.exec(['echo', String(i)])));
  expect(many.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
  expect(existsSync(canary)).toBe(false);
});

test('concurrent and repeated starts of one phase run it exactly once; env is a 0600 file', async () => {
  const runner = runnerFor(spec('p1'));
  const other = runnerFor(spec('p1'));
  const counter = path.join(tmp, 'count');
  const req = {
    jobId: 1,
    phase: 'run' as const,
    script: `echo x >> ${counter}; echo out-$RANKVAR`,
    env: { RANKVAR: 'r0' },
  };
  await Promise.all([runner.startDetached(req), other.startDetached(req), runner.startDetached(req)]);
  await runner.startDetached(req);
  await eventually(async () => (await runner.phaseState(1, 'run')).state === 'done');
  await runner.startDetached(req); // after it finished: adopted, not re-run
  expect(readFileSync(counter, 'utf8')).toBe('x\n');
  expect(await runner.phaseState(1, 'run')).toEqual({ state: 'done', exitCode: 0 });
  expect((await runner.readLog(1, 0)).data.toString()).toBe('out-r0\n');
  expect(statSync(path.join(jobDir('p1', 1), 'run.env')).mode & 0o777).toBe(0o600);
  expect(readdirSync(jobDir('p1', 1)).filter((f) => /\.(in|sh|env)\.[0-9a-f]+$/.test(f))).toEqual([]);
});

test('states: absent, running, done with the exit code; cwd ~/sky_workdir; log from offsets', async () => {
  const runner = new KubeRunner(spec('p2'));
  expect(await runner.phaseState(2, 'run')).toEqual({ state: 'absent' });
  await runner.startDetached({ jobId: 2, phase: 'run', script: 'pwd; printf 0123456789; sleep 1; exit 5', env: {} });
  expect((await runner.phaseState(2, 'run')).state).toBe('running');
  await eventually(async () => (await runner.phaseState(2, 'run')).state === 'done');
  expect(await runner.phaseState(2, 'run')).toEqual({ state: 'done', exitCode: 5 });
  const cwd = `${path.join(home('p2'), 'sky_workdir')}\n`;
  const all = await runner.readLog(2, 0);
  expect(all.data.toString()).toBe(`${cwd}0123456789`);
  expect(await runner.readLog(2, cwd.length + 2, 3)).toEqual({ data: Buffer.from('234'), offset: cwd.length + 5 });
  expect((await runner.readLog(2, all.offset)).data.length).toBe(0);
  expect((await runner.readLog(99, 0)).data.length).toBe(0);
  // setup then run, as a launch does: a zero exit
  await runner.startDetached({ jobId: 3, phase: 'setup', script: 'echo setting up', env: {} });
  await eventually(async () => (await runner.phaseState(3, 'setup')).state === 'done');
  expect(await runner.phaseState(3, 'setup')).toEqual({ state: 'done', exitCode: 0 });
});

test('env values arrive byte-exact, are never run, and appear in no process list', async () => {
  const runner = new KubeRunner(spec('p2'));
  const secret = `s3cr3t-${Date.now()}-value`;
  const env = { ...Object.fromEntries(NASTY.map((v, i) => [`V${i}`, v])), SECRET: secret };
  const script = `${NASTY.map((_, i) => `printf '%s\\0' "$V${i}"`).join('\n')}\nsleep 3`;
  await runner.startDetached({ jobId: 4, phase: 'setup', script, env });
  expect((await runner.phaseState(4, 'setup')).state).toBe('running');
  // no process on this host (where the fake pod's processes run) has the value in its argv
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let argv = '';
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    expect(argv.includes(secret)).toBe(false);
  }
  await eventually(async () => (await runner.phaseState(4, 'setup')).state === 'done');
  const { data } = await runner.readLog(4, 0);
  expect(data.toString().split('\0').slice(0, -1)).toEqual(NASTY);
  expect(existsSync(canary)).toBe(false);
  await expect(
    runner.startDetached({ jobId: 5, phase: 'run', script: 'true', env: { 'A;B': 'x' } }),
  ).rejects.toMatchObject({
    errorClass: 'invalid',
  });
  await expect(
    runner.startDetached({ jobId: 5, phase: 'run', script: 'true', env: { A: 'a\0b' } }),
  ).rejects.toMatchObject({
    errorClass: 'invalid',
  });
});

test('kill ends the whole process tree and records 143; killAll ends every job', async () => {
  const runner = new KubeRunner(spec('p1'));
  const pidFile = (n: number) => path.join(home('p1'), `child${n}.pid`);
  const childOf = async (n: number) =>
    Number(await eventually(() => (existsSync(pidFile(n)) ? readFileSync(pidFile(n), 'utf8') : undefined)));
  for (const id of [6, 7])
    await runner.startDetached({
      jobId: id,
      phase: 'run',
      script: `sleep 300 & echo $! > ~/child${id}.pid; wait`,
      env: {},
    });
  const [c6, c7] = [await childOf(6), await childOf(7)];
  expect(processAlive(c6)).toBe(true);
  await runner.kill(6);
  expect(processAlive(c6)).toBe(false);
  expect(await runner.phaseState(6, 'run')).toEqual({ state: 'done', exitCode: 143 });
  await runner.kill(6); // idempotent
  expect(processAlive(c7)).toBe(true);
  await runner.killAll();
  expect(processAlive(c7)).toBe(false);
  expect(await runner.phaseState(7, 'run')).toEqual({ state: 'done', exitCode: 143 });
  await new KubeRunner(spec('p2')).killAll(); // a pod with finished jobs: nothing to do
});

test('a new runner (a restarted worker) re-attaches to a running job and reads on from its offset', async () => {
  const first = new KubeRunner(spec('p2'));
  const script = 'echo one; while [ ! -e ~/go ]; do sleep 0.1; done; echo two; exit 4';
  await first.startDetached({ jobId: 8, phase: 'run', script, env: {} });
  const before = await first.phaseState(8, 'run');
  expect(before.state).toBe('running');
  const part = await eventually(async () => {
    const r = await first.readLog(8, 0);
    return r.data.length ? r : undefined;
  });
  expect(part.data.toString()).toBe('one\n');

  const second = new KubeRunner(spec('p2'));
  expect(await second.phaseState(8, 'run')).toEqual(before); // the same pid
  await second.startDetached({ jobId: 8, phase: 'run', script, env: {} }); // adopts
  writeFileSync(path.join(home('p2'), 'go'), '');
  await eventually(async () => (await second.phaseState(8, 'run')).state === 'done');
  expect(await second.phaseState(8, 'run')).toEqual({ state: 'done', exitCode: 4 });
  expect((await second.readLog(8, part.offset)).data.toString()).toBe('two\n');
});

test('syncWorkdir honours .gitignore, then .skyignore, excludes .git, and sends only changed files', async () => {
  const src = path.join(tmp, 'wd');
  const put = (rel: string, text: string | Buffer) => {
    mkdirSync(path.dirname(path.join(src, rel)), { recursive: true });
    writeFileSync(path.join(src, rel), text);
  };
  put('.gitignore', '# comment\n*.log\n!keep.log\nbuild/\n/top.txt\n');
  put('main.py', 'print(1)\n');
  put('a.log', 'x');
  put('keep.log', 'kept');
  put('top.txt', 'ignored at the top');
  put('sub/top.txt', 'kept below the top');
  put('build/out.o', 'x');
  put('.git/HEAD', 'ref');
  put('dir with space/it\'s "odd".txt', 'odd');
  put('-m000/-p.txt', 'a folder name that looks like an option');
  const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/ünï-${'f'.repeat(80)}.txt`; // > 100 bytes: a pax header
  put(long, 'long name');
  const big = Buffer.alloc(3 * 1024 * 1024 + 7, 1).fill(7, 1000, 2000);
  put('big.bin', big);
  // chmod, not writeFileSync's mode: the umask (077 once a test in this worker made a SKYRUN_HOME) would apply
  writeFileSync(path.join(src, 'run.sh'), 'echo hi\n');
  chmodSync(path.join(src, 'run.sh'), 0o755);
  const runner = new KubeRunner(spec('p1'));
  const remote = path.join(home('p1'), 'sky_workdir');
  let t0 = Date.now();
  await runner.syncWorkdir(src);
  console.log(`workdir sync (3 MiB): ${Date.now() - t0} ms`);
  const has = (rel: string) => existsSync(path.join(remote, rel));
  for (const rel of [
    '.gitignore',
    'main.py',
    'keep.log',
    'sub/top.txt',
    'dir with space/it\'s "odd".txt',
    '-m000/-p.txt',
    long,
  ])
    expect([rel, has(rel)]).toEqual([rel, true]);
  for (const rel of ['a.log', 'top.txt', 'build', '.git']) expect([rel, has(rel)]).toEqual([rel, false]);
  expect(readFileSync(path.join(remote, long), 'utf8')).toBe('long name');
  expect(readFileSync(path.join(remote, 'big.bin')).equals(big)).toBe(true);
  expect(statSync(path.join(remote, 'run.sh')).mode & 0o777).toBe(0o755);
  expect(Math.floor(statSync(path.join(remote, 'main.py')).mtimeMs / 1000)).toBe(
    Math.floor(statSync(path.join(src, 'main.py')).mtimeMs / 1000),
  );

  // incremental: a remote copy with the local size and mtime is not sent again
  const mtime = statSync(path.join(src, 'keep.log')).mtime;
  writeFileSync(path.join(remote, 'keep.log'), 'KEPT');
  utimesSync(path.join(remote, 'keep.log'), mtime, mtime);
  put('main.py', 'print(2)\n');
  utimesSync(path.join(src, 'main.py'), new Date(Date.now() + 5000), new Date(Date.now() + 5000));
  t0 = Date.now();
  await runner.syncWorkdir(src);
  console.log(`workdir re-sync (one changed file): ${Date.now() - t0} ms`);
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
  // the other pod got nothing
  expect(existsSync(path.join(home('p2'), 'sky_workdir', 'big.bin'))).toBe(false);
});

test('file mounts: a file to ~/..., a folder to an absolute path', async () => {
  const runner = new KubeRunner(spec('p2'));
  const file = path.join(tmp, 'cfg.json');
  writeFileSync(file, '{"a": 1}\n');
  chmodSync(file, 0o640);
  await runner.syncPath(file, '~/conf/deep/settings.json');
  const dst = path.join(home('p2'), 'conf/deep/settings.json');
  expect(readFileSync(dst, 'utf8')).toBe('{"a": 1}\n');
  expect(statSync(dst).mode & 0o777).toBe(0o640);
  const dir = path.join(tmp, 'mountdir');
  mkdirSync(path.join(dir, 'x'), { recursive: true });
  writeFileSync(path.join(dir, 'x', 'y.txt'), 'why');
  const abs = path.join(tmp, 'abs-mount', 'data');
  await runner.syncPath(dir, abs);
  expect(readFileSync(path.join(abs, 'x', 'y.txt'), 'utf8')).toBe('why');
  await expect(runner.syncPath(path.join(tmp, 'nope'), '~/x')).rejects.toMatchObject({ errorClass: 'invalid' });
});

test('two pods are isolated: one job id, two jobs, two logs', async () => {
  const [r1, r2] = [new KubeRunner(spec('p1')), new KubeRunner(spec('p2'))];
  await Promise.all([
    r1.startDetached({ jobId: 20, phase: 'run', script: 'echo "I am $POD_NAME"', env: { POD_NAME: 'one' } }),
    r2.startDetached({ jobId: 20, phase: 'run', script: 'echo "I am $POD_NAME"; exit 2', env: { POD_NAME: 'two' } }),
  ]);
  await eventually(
    async () => (await r1.phaseState(20, 'run')).state === 'done' && (await r2.phaseState(20, 'run')).state === 'done',
  );
  expect(await r1.phaseState(20, 'run')).toEqual({ state: 'done', exitCode: 0 });
  expect(await r2.phaseState(20, 'run')).toEqual({ state: 'done', exitCode: 2 });
  expect((await r1.readLog(20, 0)).data.toString()).toBe('I am one\n');
  expect((await r2.readLog(20, 0)).data.toString()).toBe('I am two\n');
});

test('skyrun ssh (through inspect): a command runs with stdin, output and its exit code', async () => {
  const stdin = new PassThrough();
  let out = '';
  let err = '';
  const stdout = new Writable({ write: (c, _e, cb) => ((out += c), cb()) });
  const stderr = new Writable({ write: (c, _e, cb) => ((err += c), cb()) });
  stdin.write('hello');
  const code = await podShell(spec('p1'), ['pwd;', 'head', '-c', '5;', 'echo;', 'echo', 'bad', '>&2;', 'exit', '7'], {
    stdin,
    stdout,
    stderr,
  });
  expect(code).toBe(7);
  expect(out).toBe(`${home('p1')}\nhello\n`);
  expect(err).toBe('bad\n');
  expect(await podShell(spec('p1'), ['true'], { stdin: new PassThrough(), stdout, stderr })).toBe(0);
});

test('skyrun ssh with a terminal: an interactive shell in ~ with a TTY, raw mode on and back off', async () => {
  const modes: boolean[] = [];
  const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: (on: boolean) => modes.push(on) });
  const stdout = new Writable({ write: (_c, _e, cb) => cb() });
  stdin.write('echo "$PWD" > ~/tty-was-here; exit 4\n');
  const code = await podShell(spec('p2'), [], { stdin, stdout, stderr: stdout });
  // kwok's TTY exec (no real pty) now and then ends without the exit status: 255 then
  expect([4, 255]).toContain(code);
  expect(readFileSync(path.join(home('p2'), 'tty-was-here'), 'utf8')).toBe(`${home('p2')}\n`);
  expect(modes).toEqual([true, false]);
});

test('errors: a missing pod or container is unknown, refused credentials auth, a dropped exec is retried', async () => {
  await expect(new KubeRunner(spec('no-such-pod')).phaseState(1, 'run')).rejects.toMatchObject({
    errorClass: 'unknown',
    message: expect.stringContaining('does not exist'),
  });
  await expect(new KubeRunner(spec('p1', { container: 'other' })).phaseState(1, 'run')).rejects.toMatchObject({
    errorClass: 'unknown',
    message: expect.stringContaining("no container 'other'"),
  });
  expect(() => new KubeRunner(spec('Bad_Name'))).toThrow(/invalid pod name/);

  const kc = parse(readFileSync(cluster.kubeconfig, 'utf8')) as {
    clusters: { cluster: { server: string } }[];
    users: { user: { token: string } }[];
  };
  const server = new URL(kc.clusters[0]!.cluster.server);
  const withConfig = async <T>(edit: (c: typeof kc) => void, fn: () => Promise<T>): Promise<T> => {
    const copy = structuredClone(kc);
    edit(copy);
    const file = path.join(tmp, `kubeconfig-${Math.random()}`);
    writeFileSync(file, stringify(copy), { mode: 0o600 });
    process.env.KUBECONFIG = file;
    try {
      return await fn();
    } finally {
      process.env.KUBECONFIG = cluster.kubeconfig;
    }
  };
  await withConfig(
    (c) => (c.users[0]!.user.token = 'wrong'),
    () => expect(new KubeRunner(spec('p1')).phaseState(1, 'run')).rejects.toMatchObject({ errorClass: 'auth' }),
  );

  // a TCP relay to the API server that breaks connections on demand
  let breakNext = 0;
  let cutAfter = 0; // 0: at once; n: after n bytes from the server (mid-stream)
  let conns = 0;
  const relay = net.createServer((c) => {
    conns++;
    const up = net.connect(Number(server.port), server.hostname);
    c.on('error', () => undefined);
    up.on('error', () => undefined);
    if (breakNext > 0) {
      breakNext--;
      if (!cutAfter) return (c.destroy(), up.destroy());
      let seen = 0;
      up.on('data', (d: Buffer) => {
        seen += d.length;
        if (seen > cutAfter) (c.destroy(), up.destroy());
      });
    }
    c.pipe(up).pipe(c);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const port = (relay.address() as net.AddressInfo).port;
  try {
    await withConfig(
      (c) => (c.clusters[0]!.cluster.server = `https://127.0.0.1:${port}`),
      async () => {
        const runner = new KubeRunner(spec('p1'));
        breakNext = 2;
        expect(await runner.phaseState(99, 'run')).toEqual({ state: 'absent' });
        expect(conns).toBe(3);
        breakNext = 1;
        cutAfter = 6000; // after the TLS and websocket handshakes, before the command's status
        const cmd = 'echo x >> ~/ran; head -c 20000 /dev/zero | tr "\\0" x; sleep 0.2';
        const r = await runner.exec(['sh', '-c', cmd]);
        expect(r.stdout).toBe('x'.repeat(20000));
        expect(conns).toBe(5);
        expect(readFileSync(path.join(home('p1'), 'ran'), 'utf8')).toBe('x\nx\n'); // cut while it ran
        breakNext = 100;
        cutAfter = 0;
        await expect(runner.phaseState(1, 'run')).rejects.toMatchObject({ errorClass: 'transient' });
      },
    );
  } finally {
    relay.close();
  }
});
