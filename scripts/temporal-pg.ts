/**
 * A production-shaped Temporal for tests and benches: the real Temporal server (built once by
 * scripts/temporal-server-bins.sh into the tools cache) on a private PostgreSQL cluster from
 * Debian's packages. Everything lives under one temporary directory: the cluster's data (initdb,
 * run by the `postgres` user when root), its socket and log, the server's config and log. Every
 * port is a free loopback port picked at start (never Debian's 5432 main cluster). Start creates
 * both databases with the SQL tool's embedded PostgreSQL schemas, starts the server, creates the
 * namespace `default` and registers SkyRun's search attributes there; stop ends the server, then
 * the cluster, and removes the directory. Tests (test/helpers/temporal-pg.ts) and benches import
 * it; from a shell:
 *   node dist/scripts/temporal-pg.js start        # prints {"dir":...,"address":...}
 *   node dist/scripts/temporal-pg.js stop DIR
 */
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { registerSearchAttributes } from '../worker/runtime/search-attributes';
import { toolsDir } from '../worker/runtime/temporal-cli';

export const TEMPORAL_SERVER_VERSION = 'v1.32.2';
const DB_USER = 'temporal';
const DB_PASSWORD = 'temporal';
const NAMESPACE = 'default';

export interface TemporalPg {
  dir: string;
  /** the frontend's gRPC address, for TEMPORAL_ADDRESS */
  address: string;
  namespace: string;
  serverPid: number;
  pgPort: number;
  /** milliseconds each start step took */
  timings: Record<string, number>;
}

/** PostgreSQL's programs: SKYRUN_PG_BIN, else Debian's newest /usr/lib/postgresql/<major>/bin. */
export function pgBin(): string | undefined {
  if (process.env.SKYRUN_PG_BIN) return process.env.SKYRUN_PG_BIN;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)) : [];
  const bins = majors.sort((a, b) => Number(b) - Number(a)).map((v) => path.join(root, v, 'bin'));
  return bins.find((b) => existsSync(path.join(b, 'initdb')));
}

export function temporalServerBinDir(): string {
  return path.join(toolsDir(), `temporal-server-${TEMPORAL_SERVER_VERSION}`);
}

/**
 * `n` distinct free loopback ports below 32768, all held open together while picking: the server
 * stores its membership ports in a PostgreSQL smallint (a higher one fails its start with `value
 * ... is out of range for type smallint`), and the OS hands out ephemeral ports above 32767.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let tries = 0; servers.length < n; tries++) {
      if (tries > 1000) throw new Error('no free loopback ports in 20000-32767');
      const srv = net.createServer();
      const ok = await new Promise<boolean>((resolve) => {
        srv.once('error', () => resolve(false));
        srv.listen(20000 + Math.floor(Math.random() * 12768), '127.0.0.1', () => resolve(true));
      });
      if (ok) servers.push(srv);
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

const isRoot = () => process.getuid?.() === 0;

/** Runs a command (as `postgres` when root and `asPg`); throws its output when it fails. */
function run(cmd: string, args: string[], opts: { asPg?: boolean } & SpawnSyncOptions = {}): string {
  const [c, a] = opts.asPg && isRoot() ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const r = spawnSync(c, a, { encoding: 'utf8', timeout: 120_000, ...opts });
  if (r.status !== 0) {
    throw new Error(
      `${path.basename(cmd)} ${args.slice(0, 3).join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`,
    );
  }
  return String(r.stdout);
}

function timed<T>(timings: Record<string, number>, step: string, fn: () => T): T {
  const t0 = Date.now();
  const v = fn();
  timings[step] = Date.now() - t0;
  return v;
}

/** initdb and start a private cluster on `port`; the superuser is DB_USER with DB_PASSWORD. */
function startPostgres(dir: string, port: number, timings: Record<string, number>): void {
  const bin = pgBin();
  if (!bin) throw new Error(`PostgreSQL is missing; install Debian's postgresql package (apt-get install postgresql)`);
  const pw = path.join(dir, 'pg', 'pwfile');
  run('mkdir', ['-p', path.join(dir, 'pg')]);
  writeFileSync(pw, DB_PASSWORD + '\n');
  if (isRoot()) {
    const { uid, gid } = pgUser();
    for (const p of [dir, path.join(dir, 'pg'), pw]) chownSync(p, uid, gid);
  }
  const data = path.join(dir, 'pg', 'data');
  timed(timings, 'initdb', () =>
    run(
      path.join(bin, 'initdb'),
      ['-D', data, '-U', DB_USER, `--pwfile=${pw}`, '--auth-local=trust', '--auth-host=scram-sha-256'],
      { asPg: true, env: { ...process.env, LC_ALL: 'C.UTF-8' } },
    ),
  );
  const opts = `-p ${port} -k ${path.join(dir, 'pg')} -c listen_addresses=127.0.0.1 -c fsync=off`;
  timed(timings, 'postgres', () =>
    run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'pg', 'postgres.log'), '-o', opts, '-w', 'start'], {
      asPg: true,
    }),
  );
}

function pgUser(): { uid: number; gid: number } {
  return { uid: Number(run('id', ['-u', 'postgres'])), gid: Number(run('id', ['-g', 'postgres'])) };
}

/** Both databases, with the SQL tool's embedded PostgreSQL schemas. */
function setupSchemas(bin: string, pgPort: number): void {
  const tool = path.join(bin, 'temporal-sql-tool');
  const base = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(pgPort), '-u', DB_USER];
  // the password through the tool's environment, not its argv
  const env = { ...process.env, SQL_PASSWORD: DB_PASSWORD };
  for (const [db, schema] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ]) {
    const t = [...base, '--db', db];
    run(tool, [...t, 'create-database'], { env });
    run(tool, [...t, 'setup-schema', '-v', '0.0'], { env });
    run(tool, [...t, 'update-schema', '--schema-name', `postgresql/v12/${schema}`], { env });
  }
}

function serverConfig(dir: string, pgPort: number, p: number[]): string {
  const ds = (db: string, conns: number) =>
    `{ sql: { pluginName: postgres12, databaseName: ${db}, connectAddr: "127.0.0.1:${pgPort}", connectProtocol: tcp, ` +
    `user: ${DB_USER}, password: ${DB_PASSWORD}, maxConns: ${conns}, maxIdleConns: ${conns}, maxConnLifetime: 1h } }`;
  const svc = (grpc: number, membership: number, http?: number) =>
    `{ rpc: { grpcPort: ${grpc}, ${http ? `httpPort: ${http}, ` : ''}membershipPort: ${membership}, bindOnIP: "127.0.0.1" } }`;
  return [
    'log: { stdout: true, level: warn }',
    'persistence:',
    '  defaultStore: pg-default',
    '  visibilityStore: pg-visibility',
    '  numHistoryShards: 4',
    '  datastores:',
    `    pg-default: ${ds('temporal', 20)}`,
    `    pg-visibility: ${ds('temporal_visibility', 10)}`,
    'global: { membership: { maxJoinDuration: 30s, broadcastAddress: "127.0.0.1" } }',
    'services:',
    `  frontend: ${svc(p[0]!, p[1]!, p[2]!)}`,
    `  history: ${svc(p[3]!, p[4]!)}`,
    `  matching: ${svc(p[5]!, p[6]!)}`,
    `  worker: ${svc(p[7]!, p[8]!)}`,
    'clusterMetadata:',
    '  enableGlobalNamespace: false',
    '  failoverVersionIncrement: 10',
    '  masterClusterName: active',
    '  currentClusterName: active',
    '  clusterInformation:',
    `    active: { enabled: true, initialFailoverVersion: 1, rpcName: frontend, rpcAddress: "127.0.0.1:${p[0]}", httpAddress: "127.0.0.1:${p[2]}" }`,
    'dcRedirectionPolicy: { policy: noop }',
    `dynamicConfigClient: { filepath: "${path.join(dir, 'dynamic.yaml')}", pollInterval: 10s }`,
    '',
  ].join('\n');
}

/** New search attributes usable at once; the dev server's visibility rate (the default is 10/s). */
const DYNAMIC_CONFIG = [
  'system.forceSearchAttributesCacheRefreshOnRead: [ { value: true, constraints: {} } ]',
  'frontend.namespaceRPS.visibility: [ { value: 100, constraints: {} } ]',
  '',
].join('\n');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the frontend, creates the namespace and registers SkyRun's search attributes. */
async function prepareNamespace(address: string, serverPid: number, log: string): Promise<void> {
  const end = Date.now() + 60_000;
  let connection: Connection | undefined;
  for (;;) {
    try {
      connection ??= await Connection.connect({ address, connectTimeout: 2000 });
      await connection.workflowService.getSystemInfo({});
      break;
    } catch (e) {
      if (!alive(serverPid)) throw new Error(`the Temporal server exited; its log:\n${tail(log)}`);
      if (Date.now() > end) throw new Error(`the Temporal server did not serve in 60 s (${(e as Error).message})`);
      await sleep(100);
    }
  }
  try {
    await connection.workflowService.registerNamespace({
      namespace: NAMESPACE,
      workflowExecutionRetentionPeriod: msToTs('24h'),
    });
    // the frontend's namespace cache: wait until it knows the namespace
    for (;;) {
      try {
        await connection.workflowService.describeNamespace({ namespace: NAMESPACE });
        await registerSearchAttributes(connection.operatorService, NAMESPACE);
        break;
      } catch (e) {
        if (Date.now() > end) throw e;
        await sleep(200);
      }
    }
  } finally {
    await connection.close();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-20).join('\n') : '(no log)';
}

/** Starts PostgreSQL and the Temporal server under a new temporary directory. */
export async function startTemporalPg(): Promise<TemporalPg> {
  const bin = temporalServerBinDir();
  if (!existsSync(path.join(bin, 'temporal-server'))) {
    throw new Error(`the Temporal server is not built (${bin}); run bash scripts/temporal-server-bins.sh`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skyrun-temporal-pg-'));
  const timings: Record<string, number> = {};
  const t0 = Date.now();
  const [pgPort, ...ports] = await freePorts(10);
  try {
    startPostgres(dir, pgPort!, timings);
    timed(timings, 'schemas', () => setupSchemas(bin, pgPort!));
    writeFileSync(path.join(dir, 'dynamic.yaml'), DYNAMIC_CONFIG);
    writeFileSync(path.join(dir, 'temporal.yaml'), serverConfig(dir, pgPort!, ports));
    const log = path.join(dir, 'server.log');
    const out = openSync(log, 'a');
    const t1 = Date.now();
    const server = spawn(
      path.join(bin, 'temporal-server'),
      ['--config-file', path.join(dir, 'temporal.yaml'), '--allow-no-auth', 'start'],
      { detached: true, stdio: ['ignore', out, out] },
    );
    server.unref();
    const address = `127.0.0.1:${ports[0]}`;
    const pg: TemporalPg = { dir, address, namespace: NAMESPACE, serverPid: server.pid!, pgPort: pgPort!, timings };
    writeFileSync(path.join(dir, 'state.json'), JSON.stringify(pg));
    await prepareNamespace(address, server.pid!, log);
    timings.server = Date.now() - t1;
    timings.total = Date.now() - t0;
    writeFileSync(path.join(dir, 'state.json'), JSON.stringify(pg));
    return pg;
  } catch (e) {
    await stopTemporalPg(dir);
    throw e;
  }
}

/** Ends the server (SIGTERM, then SIGKILL after 15 s), then the cluster, and removes `dir`. */
export async function stopTemporalPg(dir: string): Promise<void> {
  const state = path.join(dir, 'state.json');
  if (existsSync(state)) {
    const { serverPid } = JSON.parse(readFileSync(state, 'utf8')) as TemporalPg;
    if (alive(serverPid)) {
      process.kill(serverPid, 'SIGTERM');
      const end = Date.now() + 15_000;
      while (alive(serverPid) && Date.now() < end) await sleep(100);
      if (alive(serverPid)) process.kill(serverPid, 'SIGKILL');
    }
  }
  const data = path.join(dir, 'pg', 'data');
  const bin = pgBin();
  if (bin && existsSync(path.join(data, 'postmaster.pid'))) {
    run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'], { asPg: true });
  }
  rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const [cmd, dir] = process.argv.slice(2);
  if (cmd === 'start') {
    process.stdout.write(JSON.stringify(await startTemporalPg()) + '\n');
  } else if (cmd === 'stop' && dir) {
    await stopTemporalPg(dir);
  } else {
    process.stderr.write('usage: node dist/scripts/temporal-pg.js start | stop DIR\n');
    process.exit(2);
  }
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`temporal-pg: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
