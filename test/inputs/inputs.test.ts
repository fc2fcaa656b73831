/**
 * Every invalid input of cases.ts, run with the real CLI (no server: each case has a fresh
 * SKYRUN_HOME, and must leave it as it was, so no server, worker or workflow was started): the
 * exit code, the first line of stderr, a bounded output, and an end within CASE_TIMEOUT_MS.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO, SkyrunEnv } from '../helpers/skyrun';
import { CASES, GENERATED, type Case } from './cases';

const CASE_TIMEOUT_MS = 20_000;
const MAX_OUTPUT_LINES = 30;
const FILES = path.join(REPO, 'test', 'inputs', 'files');
const INVALID = path.join(REPO, 'test', 'task', 'invalid');

let genDir: string | undefined;
/** Writes GENERATED once (lazily: concurrent tests may start before beforeAll hooks end). */
function generated(): string {
  if (genDir) return genDir;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skyrun-inputs-'));
  for (const [name, make] of Object.entries(GENERATED)) {
    const content = make();
    const file = path.join(dir, name);
    if (content === null) mkdirSync(file);
    else if (content === 'fifo') expect(spawnSync('mkfifo', [file]).status).toBe(0);
    else writeFileSync(file, content);
  }
  genDir = dir;
  return dir;
}

afterAll(() => {
  if (genDir) rmSync(genDir, { recursive: true, force: true });
});

function argv(c: Case): string[] {
  return c.argv.map((a) =>
    a
      .replace(/^@files\//, `${FILES}/`)
      .replace(/^@invalid\//, `${INVALID}/`)
      .replace(/^@gen\//, `${generated()}/`),
  );
}

/** Names and contents of every file under `dir`. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(e.parentPath, e.name);
    out[path.relative(dir, p)] = e.isFile() ? readFileSync(p, 'utf8') : '<dir>';
  }
  return out;
}

test('the table has at least 100 cases, each named once', () => {
  expect(CASES.length).toBeGreaterThanOrEqual(100);
  expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
});

test.concurrent.each(CASES.map((c) => [c.name, c] as const))(
  '%s',
  async (_name, c) => {
    const args = argv(c);
    const sr = await SkyrunEnv.create('inputs');
    try {
      if (c.sim !== undefined) writeFileSync(path.join(sr.home, 'sim.yaml'), c.sim);
      const before = snapshot(sr.home);
      const child = sr.spawn(args, { env: { ...c.env } });
      const timer = setTimeout(() => child.kill('SIGKILL'), CASE_TIMEOUT_MS);
      const r = await child.result;
      clearTimeout(timer);
      const first = r.stderr.split('\n')[0];
      const context = `${args.join(' ').slice(0, 300)}\nexit ${r.code}\nstderr: ${r.stderr.slice(0, 2000)}`;
      expect({ code: r.code, context }).toEqual({ code: c.code, context });
      if (typeof c.first === 'string') expect(first.startsWith(c.first) ? c.first : first).toBe(c.first);
      else expect(first).toMatch(c.first);
      if (c.last) expect(r.stderr.trimEnd().split('\n').pop()).toMatch(c.last);
      const lines = (r.stdout + r.stderr).split('\n').filter((l) => l !== '').length;
      expect(lines).toBeLessThan(MAX_OUTPUT_LINES);
      expect(r.stdout.length + r.stderr.length).toBeLessThan(64 * 1024);
      // nothing started, nothing written: no server, worker or workflow; a sim config kept as it was
      expect(snapshot(sr.home)).toEqual(before);
    } finally {
      rmSync(sr.home, { recursive: true, force: true });
    }
  },
  CASE_TIMEOUT_MS + 10_000,
);
