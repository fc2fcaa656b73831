/**
 * Real git servers for tests, on loopback: a repository with known commits, served by `git daemon`
 * (git://, no credentials) and by `git http-backend` behind a tiny HTTP server that asks for a
 * token (HTTP basic auth, as GitHub takes a token). While an authenticated request is served, the
 * HTTP server looks through every process's command line for the token, so a test can tell that
 * no process was ever given it as an argument.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { eventually, freePort } from './skyrun';

export interface TestRepo {
  /** the folder the servers serve; the bare repository is `repo.git` in it */
  root: string;
  /** commit of "v2" (between tag v1 and main's head "v3"); branch dev says "dev" */
  v2: string;
  head: string;
}

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();

/** f.txt says v1 at tag v1, v2 at the next commit, v3 at main's head; dev at branch dev. */
export function makeRepo(): TestRepo {
  const root = mkdtempSync(path.join(os.tmpdir(), 'skyrun-git-'));
  const src = path.join(root, 'src');
  mkdirSync(src);
  git(src, 'init', '-q', '-b', 'main');
  const commit = (text: string) => {
    writeFileSync(path.join(src, 'f.txt'), `${text}\n`);
    git(src, 'add', 'f.txt');
    git(src, 'commit', '-q', '-m', text);
    return git(src, 'rev-parse', 'HEAD');
  };
  commit('v1');
  git(src, 'tag', 'v1');
  const v2 = commit('v2');
  git(src, 'checkout', '-q', '-b', 'dev');
  commit('dev');
  git(src, 'checkout', '-q', 'main');
  const head = commit('v3');
  git(root, 'clone', '-q', '--bare', src, 'repo.git');
  rmSync(src, { recursive: true, force: true });
  return { root, v2, head };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** `git daemon` serving `root` on 127.0.0.1; its URL for repo.git, and a stop. */
export async function gitDaemon(root: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const proc: ChildProcess = spawn(
    'git',
    ['daemon', '--listen=127.0.0.1', `--port=${port}`, '--reuseaddr', '--export-all', `--base-path=${root}`, root],
    { stdio: 'ignore' },
  );
  await eventually(() => listening(port));
  return {
    url: `git://127.0.0.1:${port}/repo.git`,
    stop: () => stopProc(proc),
  };
}

function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
  });
}

/** Whether any process's command line holds `text`. */
export function inAnyCommandLine(text: string): boolean {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`).includes(text)) return true;
    } catch {
      /* gone */
    }
  }
  return false;
}

export interface TokenServer {
  url: string;
  /** authenticated requests served, and whether the token was in a command line during any */
  served: number;
  tokenInCommandLine: boolean;
  stop(): Promise<void>;
}

/** Smart HTTP (`git http-backend`) for `root`, to requests whose basic auth password is `token`. */
export async function tokenGitServer(root: string, token: string): Promise<TokenServer> {
  const state: TokenServer = { url: '', served: 0, tokenInCommandLine: false, stop: async () => undefined };
  const srv = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const pass = Buffer.from(auth.replace(/^Basic /, ''), 'base64')
      .toString()
      .split(':')
      .slice(1)
      .join(':');
    if (!auth.startsWith('Basic ') || pass !== token) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end();
      return;
    }
    state.served++;
    if (inAnyCommandLine(token)) state.tokenInCommandLine = true;
    const u = new URL(req.url ?? '/', 'http://x');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method,
        PATH_INFO: u.pathname,
        QUERY_STRING: u.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_USER: 'test',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let started = false;
    cgi.stdout.on('data', (d: Buffer) => {
      if (started) return void res.write(d);
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      started = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const i = line.indexOf(':');
        const [k, v] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
        if (/^status$/i.test(k)) status = parseInt(v, 10);
        else headers[k] = v;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => res.end());
  });
  const port = await freePort();
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${port}/repo.git`;
  state.stop = () =>
    new Promise((resolve) => {
      srv.close(() => resolve());
      srv.closeAllConnections();
    });
  return state;
}
