/**
 * Git workdirs (`workdir: {url, ref}`, `--git-url/--git-ref`) end to end: the real CLI on local
 * infra and on an SSH node (a real sshd on loopback) against real git servers on loopback (git
 * daemon; git http-backend behind basic auth for GIT_TOKEN; sshd for an SSH URL with
 * GIT_SSH_KEY_PATH). The job sees the file at the tag, the commit, the branch and the default
 * branch; a second job at the same commit adopts the clone, and a retry after an interrupted clone
 * finishes it; a bad ref fails the job with one clear line; the token reaches git without any
 * command line holding it, and stays out of the log, the history and every file SkyRun keeps.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { cloneFailure } from '../activities/infra/runners/git-workdir';
import { LocalRunner } from '../activities/infra/runners/local';
import { isSshUrl } from '../client/git-credentials';
import { gitDaemon, makeRepo, tokenGitServer, type TestRepo, type TokenServer } from './helpers/git-server';
import { SkyrunEnv } from './helpers/skyrun';
import { makeClientKey, startSshd, type FakeHost } from './helpers/sshd';

let sr: SkyrunEnv;
let repo: TestRepo;
let daemon: { url: string; stop(): Promise<void> };
let https: TokenServer;
/** an SSH node, one without git, and a git server reached over SSH (with its own key) */
let node: FakeHost;
let noGit: FakeHost;
let gitHost: FakeHost;
const TOKEN = 'ghp_skyrunTestToken0123456789';

beforeAll(async () => {
  repo = makeRepo();
  daemon = await gitDaemon(repo.root);
  https = await tokenGitServer(repo.root, TOKEN);
  const key = makeClientKey();
  node = await startSshd({ clientKey: key });
  noGit = await startSshd({ clientKey: key, withoutTools: ['git'] });
  gitHost = await startSshd();
  sr = await SkyrunEnv.create('git');
  const pool = (h: FakeHost) => ({ user: 'root', identity_file: key, hosts: [{ ip: h.host, port: h.port }] });
  writeFileSync(path.join(sr.home, 'ssh_node_pools.yaml'), stringify({ lab: pool(node), bare: pool(noGit) }));
  // neither the token nor a key from this machine's environment: each test says what it gives
  delete sr.env.GIT_TOKEN;
  delete sr.env.GIT_SSH_KEY_PATH;
  expect((await sr.run(['server', 'start'])).code).toBe(0);
});

afterAll(async () => {
  await sr?.dispose();
  await daemon?.stop();
  await https?.stop();
  for (const h of [node, noGit, gitHost]) await h?.stop();
  if (repo) rmSync(repo.root, { recursive: true, force: true });
});

const nodeWorkdir = (cluster: string) => path.join(sr.home, 'clusters', cluster, 'nodes', '0', 'sky_workdir');

test('a tag, a commit (the clone is updated), the same commit again (adopted), a branch and the default branch', async () => {
  const yaml = path.join(sr.home, 'git-task.yaml');
  writeFileSync(
    yaml,
    `workdir:\n  url: ${daemon.url}\n  ref: v1\nresources:\n  infra: local\nrun: |\n  echo "f=$(cat f.txt) at $PWD"\n`,
  );
  const tag = await sr.run(['launch', '-y', '-c', 'g', yaml]);
  if (tag.code !== 0) throw new Error(tag.stdout + tag.stderr);
  expect(tag.stdout).toContain(`f=v1 at ${nodeWorkdir('g')}`);

  const show = 'echo "f=$(cat f.txt) ino=$(stat -c %i f.txt) head=$(git rev-parse HEAD)"; touch untracked.txt';
  const at = (ref: string) => ['exec', 'g', '--git-url', daemon.url, '--git-ref', ref, '--', show];
  const commit = await sr.run(at(repo.v2));
  expect(commit.code).toBe(0);
  const m = /f=v2 ino=(\d+) head=([0-9a-f]{40})/.exec(commit.stdout);
  expect(m?.[2]).toBe(repo.v2);
  // at the commit already: nothing is checked out again (same file), what the job left is kept
  const again = await sr.run(at(repo.v2.slice(0, 10)));
  expect(again.code).toBe(0);
  expect(again.stdout).toContain(`f=v2 ino=${m![1]} head=${repo.v2}`);
  expect(existsSync(path.join(nodeWorkdir('g'), 'untracked.txt'))).toBe(true);

  const branch = await sr.run([
    ...at('dev').slice(0, -1),
    'echo "f=$(cat f.txt) on $(git rev-parse --abbrev-ref HEAD)"',
  ]);
  expect(branch.stdout).toContain('f=dev on dev');
  const dflt = await sr.run([
    'exec',
    'g',
    '--git-url',
    daemon.url,
    '--',
    'echo "f=$(cat f.txt) on $(git branch --show-current)"',
  ]);
  expect(dflt.stdout).toContain('f=v3 on main');
  expect(execFileSync('git', ['-C', nodeWorkdir('g'), 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()).toBe(
    repo.head,
  );
});

test('a ref the repository lacks fails the job with one clear line (exit 100); nothing runs', async () => {
  const r = await sr.run(['exec', 'g', '--git-url', daemon.url, '--git-ref', 'no-such-ref', '--', 'echo RAN']);
  expect(r.code).toBe(100);
  expect(r.stdout + r.stderr).toContain(`no branch, tag or commit named no-such-ref in ${daemon.url}`);
  expect(r.stdout).not.toContain('RAN');
  const q = await sr.run(['queue', 'g']);
  expect(q.stdout).toMatch(/FAILED_DRIVER/);
  expect(q.stdout).toContain('no branch, tag or commit named no-such-ref');
  // another repository into the same workdir is refused, not mixed in
  const other = await sr.run(['exec', 'g', '--git-url', https.url, '--', 'echo RAN']);
  expect(other.code).toBe(100);
  expect(other.stdout + other.stderr).toContain(`already holds a clone of ${daemon.url}`);
});

test('GIT_TOKEN reaches git through no command line, and stays out of the log and the history', async () => {
  const env = { GIT_TOKEN: TOKEN };
  const run = 'echo "f=$(cat f.txt)"; [ -n "$GIT_TOKEN" ] && echo job-has-the-token';
  const r = await sr.run(['launch', '-y', '-c', 'gh', '--infra', 'local', '--git-url', https.url, '--', run], { env });
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  expect(r.stdout).toContain('f=v3');
  expect(r.stdout).toContain('job-has-the-token'); // as on SkyPilot, the job has it (to git pull)
  expect(https.served).toBeGreaterThan(0);
  expect(https.tokenInCommandLine).toBe(false);
  expect(r.stdout + r.stderr).not.toContain(TOKEN);

  // the history holds it only encrypted
  const client = await sr.temporalClient();
  const history = await client.workflow.getHandle('cluster/gh').fetchHistory();
  expect(JSON.stringify(history)).not.toContain(TOKEN);
  expect(JSON.stringify(history)).not.toContain(Buffer.from(TOKEN).toString('base64'));
  // no file under SKYRUN_HOME holds it: the server's database, the worker's log, the node's folder
  expect(grepTree(sr.home, 'SQLite format 3').some((f) => f.endsWith('temporal.db'))).toBe(true);
  expect(existsSync(path.join(sr.home, 'clusters', 'gh', 'nodes', '0', 'sky_workdir', '.git'))).toBe(true);
  expect(grepTree(sr.home, TOKEN)).toEqual([]);

  // a wrong token, and none: refused as an authentication failure, saying what to set
  const wrong = await sr.run(['exec', 'gh', '--git-url', https.url, '--', 'echo RAN'], {
    env: { GIT_TOKEN: 'wrong-token-value' },
  });
  expect(wrong.code).toBe(100);
  expect(wrong.stdout + wrong.stderr).toContain('set GIT_TOKEN for an HTTPS URL');
  expect(wrong.stdout + wrong.stderr).not.toContain('wrong-token-value');
  const none = await sr.run(['exec', 'gh', '--git-url', https.url, '--', 'echo RAN']);
  expect(none.code).toBe(100);
  expect(none.stdout).not.toContain('RAN');
  expect(none.stdout + none.stderr).toContain('could not read Username');
  expect(none.stdout + none.stderr).toContain('set GIT_TOKEN for an HTTPS URL');
});

test('a managed job clones too; a bad ref fails it FAILED_PRECHECKS with the reason', async () => {
  const ok = await sr.run([
    'jobs',
    'launch',
    '-y',
    '--infra',
    'local',
    '--git-url',
    daemon.url,
    '--git-ref',
    'v1',
    '--',
    'echo "f=$(cat f.txt)"',
  ]);
  if (ok.code !== 0) throw new Error(ok.stdout + ok.stderr);
  expect(ok.stdout).toContain('f=v1');
  const bad = await sr.run([
    'jobs',
    'launch',
    '-y',
    '--infra',
    'local',
    '--git-url',
    daemon.url,
    '--git-ref',
    'nope',
    '--',
    'echo RAN',
  ]);
  expect(bad.code).toBe(100);
  expect(bad.stdout).not.toContain('RAN');
  const q = await sr.run(['jobs', 'queue']);
  expect(q.stdout).toMatch(/FAILED_PRECHECKS/);
  expect(q.stdout + bad.stdout + bad.stderr).toContain('no branch, tag or commit named nope');
});

test('--git-ref without a git workdir, and --workdir with --git-url, are refused (exit 2)', async () => {
  const noUrl = await sr.run(['launch', '-y', '-c', 'x', '--git-ref', 'v1', '--', 'true']);
  expect(noUrl.code).toBe(2);
  expect(noUrl.stderr).toContain('--git-ref: expected a git workdir to check out');
  const both = await sr.run(['launch', '-y', '-c', 'x', '--workdir', '.', '--git-url', daemon.url, '--', 'true']);
  expect(both.code).toBe(2);
  expect(both.stderr).toContain('give either --workdir or --git-url, not both');
  expect((await sr.run(['down', '-y', 'g', 'gh'])).code).toBe(0);
});

test('on an SSH node the clone lands in ~/sky_workdir; a node without git says so in one line', async () => {
  const run = 'echo "f=$(cat f.txt) at $PWD"';
  const r = await sr.run([
    'launch',
    '-y',
    '-c',
    'gs',
    '--infra',
    'ssh/lab',
    '--git-url',
    daemon.url,
    '--git-ref',
    'v1',
    '--',
    run,
  ]);
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  expect(r.stdout).toContain(`f=v1 at ${path.join(node.home, 'sky_workdir')}`);

  const bare = await sr.run([
    'launch',
    '-y',
    '-c',
    'gb',
    '--infra',
    'ssh/bare',
    '--git-url',
    daemon.url,
    '--',
    'echo RAN',
  ]);
  expect(bare.code).toBe(100);
  expect(bare.stdout).not.toContain('RAN');
  expect(bare.stdout + bare.stderr).toContain(
    'git is not installed on the node (install git on the node, or use a local workdir)',
  );
  expect((await sr.run(['down', '-y', 'gs', 'gb'])).code).toBe(0);
});

test('an SSH URL with GIT_SSH_KEY_PATH: the key goes on stdin, and no known_hosts file changes', async () => {
  const url = `ssh://root@${gitHost.host}:${gitHost.port}${repo.root}/repo.git`;
  const knownHosts = path.join(os.homedir(), '.ssh', 'known_hosts');
  const before = existsSync(knownHosts) ? readFileSync(knownHosts, 'utf8') : undefined;
  const key = readFileSync(gitHost.identityFile, 'utf8');
  const keyLine = key.split('\n')[1]!;
  const args = ['launch', '-y', '-c', 'gk', '--infra', 'local', '--git-url', url, '--', 'echo "f=$(cat f.txt)"'];
  const r = await sr.run(args, { env: { GIT_SSH_KEY_PATH: gitHost.identityFile } });
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  expect(r.stdout).toContain('f=v3');
  expect(r.stdout + r.stderr).not.toContain(keyLine);
  expect(existsSync(knownHosts) ? readFileSync(knownHosts, 'utf8') : undefined).toBe(before);
  // without the key the server refuses; a file that is no key is refused before anything starts
  const without = await sr.run(['exec', 'gk', '--git-url', url, '--', 'echo RAN'], { env: { HOME: sr.home } });
  expect(without.code).toBe(100);
  expect(without.stdout + without.stderr).toContain('Permission denied');
  const notKey = await sr.run(['exec', 'gk', '--git-url', url, '--', 'true'], {
    env: { GIT_SSH_KEY_PATH: `${gitHost.identityFile}.pub` },
  });
  expect(notKey.code).toBe(2);
  expect(notKey.stderr).toContain(`GIT_SSH_KEY_PATH: ${gitHost.identityFile}.pub is not a private key`);
  expect((await sr.run(['down', '-y', 'gk'])).code).toBe(0);
});

/** Files under `dir` whose bytes hold `text`. */
function grepTree(dir: string, text: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...grepTree(p, text));
    else if (e.isFile() && readFileSync(p).includes(text)) out.push(p);
  }
  return out;
}

test('failures are classed so only what a retry may fix retries; a password in the URL is not repeated', () => {
  const g = { url: 'https://bob:s3cret@h/r.git', ref: 'x' };
  const cls = (code: number, err: string) => cloneFailure('n', g, code, err).errorClass;
  expect(cls(20, 'git is not installed on the node')).toBe('config');
  expect(cls(21, 'no branch, tag or commit named x')).toBe('invalid');
  expect(cls(22, "fatal: Authentication failed for 'https://h/r.git/'")).toBe('auth');
  expect(cls(22, 'git@h: Permission denied (publickey).')).toBe('auth');
  expect(cls(22, 'remote: Repository not found.')).toBe('invalid');
  expect(cls(22, 'fatal: unable to access: Could not resolve host: h')).toBe('transient');
  expect(cls(128, 'fatal: early EOF')).toBe('transient');
  expect(cloneFailure('n', g, 21, `no branch in ${g.url}`).message).not.toContain('s3cret');
  expect(['git@github.com:o/r.git', 'ssh://git@h:22/o/r', 'h:o/r'].map(isSshUrl)).toEqual([true, true, true]);
  expect(['https://h/o/r', 'git://h/r', 'file:///tmp/r', '/tmp/r'].map(isSshUrl)).toEqual([false, false, false, false]);
});

test('a retry after an interrupted clone (repository made, nothing fetched or checked out) finishes it', async () => {
  const root = path.join(sr.home, 'interrupted-node');
  const wd = path.join(root, 'sky_workdir');
  mkdirSync(wd, { recursive: true });
  execFileSync('git', ['init', '-q', wd]);
  execFileSync('git', ['-C', wd, 'remote', 'add', 'origin', daemon.url]);
  writeFileSync(path.join(wd, 'f.txt'), 'half-written'); // a checkout cut short
  await new LocalRunner(root).cloneWorkdir({ url: daemon.url, ref: 'v1' });
  expect(readFileSync(path.join(wd, 'f.txt'), 'utf8')).toBe('v1\n');
  // and once more at a commit: moved there, still the same repository
  await new LocalRunner(root).cloneWorkdir({ url: daemon.url, ref: repo.v2 });
  expect(readFileSync(path.join(wd, 'f.txt'), 'utf8')).toBe('v2\n');
});
