/**
 * bench/failover: the workflow's overhead per failed provisioning attempt, with instant faults
 * (sim, capacity errors everywhere, no create delay): each attempt is a provision activity that
 * fails plus its teardown compensation. Measured from workflow history timestamps (start of the
 * first provision attempt to the workflow's failure), divided by the attempts made.
 * The sim takes its offers (so the attempts it makes) from the SkyPilot-schema catalog folder
 * SKYRUN_CATALOG_DIR names, else the repository's test/fixtures/catalog/subset.
 * Run by hand: `npm run build && node dist/bench/failover.js [launches]`. Prints figures.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { CATALOG_SUBSET } from '../test/helpers/sim';
import { freePort } from '../test/helpers/skyrun';
import { stats } from './stats';

const CLI = path.join(__dirname, '..', 'client', 'cli.js');
const CATALOG = process.env.SKYRUN_CATALOG_DIR || CATALOG_SUBSET;

function ms(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
}

async function main() {
  const launches = Number(process.argv[2] ?? 5);
  const home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-bench-failover-'));
  const port = await freePort();
  const env = {
    ...process.env,
    SKYRUN_HOME: home,
    SKYRUN_TEMPORAL_PORT: String(port),
    SKYRUN_UI_PORT: String(await freePort()),
    SKYRUN_CATALOG_DIR: CATALOG,
  };
  writeFileSync(path.join(home, 'sim.yaml'), 'catalog_cloud: aws\ncapacity_errors: ["*"]\n');
  const sky = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { env, encoding: 'utf8' });
  const connection = await Connection.connect({ address: `127.0.0.1:${port}` }).catch(() => undefined);
  try {
    sky('server', 'start');
    const conn = connection ?? (await Connection.connect({ address: `127.0.0.1:${port}` }));
    const client = new Client({ connection: conn });
    const perAttempt: number[] = [];
    let attempts = 0;
    for (let i = 0; i < launches; i++) {
      const name = `fo-${i}`;
      const r = sky('launch', '-y', '-c', name, '--infra', 'sim', '--gpus', 'A100:8', '--', 'true');
      if (r.status !== 1) throw new Error(`expected the launch to fail: ${r.stderr}`);
      const events = (await client.workflow.getHandle(`cluster/${name}`).fetchHistory()).events ?? [];
      const provisions = events.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'provision',
      );
      const first = ms(provisions[0]!.eventTime);
      const end = ms(events[events.length - 1]!.eventTime);
      attempts = provisions.length;
      perAttempt.push((end - first) / provisions.length);
    }
    console.log(
      `bench/failover: ${launches} launches of A100:8 on sim (full AWS catalog subset), every zone out of capacity`,
    );
    console.log(`attempts per launch: ${attempts} (provision + teardown compensation each)`);
    console.log(`workflow time per failed attempt: ${stats(perAttempt)}`);
    await conn.close();
  } finally {
    sky('server', 'stop');
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
