/**
 * A smoke test against REAL cloud accounts, through SkyRun's own provider code: on each enabled
 * cloud (aws, gcp; or those named with --clouds), launch the smallest CPU offer of the catalog,
 * run a command over SSH, stop and start it (where the cloud allows), tear it down, and check
 * that nothing tagged/labelled for the cluster remains, printing each step's time.
 *
 * It creates billable resources, so it refuses to run without --yes-spend-money. Never run in
 * tests (SKYRUN_GCE_ENDPOINT / AWS_ENDPOINT_URL point it at emulators for a dry check).
 *
 *   node dist/scripts/cloud-smoke.js --yes-spend-money [--clouds aws,gcp]
 */
import { randomBytes } from 'node:crypto';
import type { ClusterHandle } from '../core/cluster';
import { createProviders } from '../activities/infra/clouds';
import { type Provider, type ProvisionContext, stopRefusal } from '../activities/infra/clouds/provider';
import { closeAllSsh, SshRunner } from '../activities/infra/runners/ssh';

const CLOUDS = ['aws', 'gcp'];

function usage(code: number): never {
  process.stderr.write(
    'usage: node dist/scripts/cloud-smoke.js --yes-spend-money [--clouds aws,gcp]\n' +
      '  launches one small CPU instance per enabled cloud on your real accounts (billed), then deletes it\n',
  );
  process.exit(code);
}

/** Time one step, printing `cloud step seconds` (and the error when it fails). */
async function step<T>(cloud: string, name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    const v = await fn();
    console.log(`${cloud.padEnd(4)} ${name.padEnd(28)} ${((Date.now() - t0) / 1000).toFixed(1).padStart(7)} s`);
    return v;
  } catch (e) {
    console.log(`${cloud.padEnd(4)} ${name.padEnd(28)} FAILED after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    throw e;
  }
}

const ctx: ProvisionContext = {
  attemptId: randomBytes(4).toString('hex'),
  heartbeat: () => undefined,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

async function runOnHead(handle: ClusterHandle): Promise<string> {
  const runner = handle.nodes[0]!.runner;
  if (runner.kind !== 'ssh') throw new Error(`head node is reached by ${runner.kind}, not ssh`);
  const r = await new SshRunner(runner).exec(['bash', '-c', 'uname -sm && nproc']);
  if (r.code !== 0) throw new Error(`command exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.trim().replace(/\n/g, ', ');
}

/** One cloud, start to end; teardown always runs once a launch was tried. */
async function smoke(p: Provider): Promise<void> {
  const cloud = p.name;
  const check = await step(cloud, 'check credentials', () => p.check());
  if (!check.enabled) {
    console.log(`${cloud}: skipped (${check.reason})`);
    return;
  }
  const base = { infra: { cloud }, useSpot: false, ports: [], labels: {} };
  const offers = await step(cloud, 'offers', () => p.offers({ ...base, cpus: { value: 2, orMore: true } }, 1, 0));
  const offer = offers.sort((a, b) => a.hourlyPrice - b.hourlyPrice)[0];
  if (!offer) throw new Error(`${cloud}: no CPU offer in the catalog`);
  const cluster = `skyrun-smoke-${ctx.attemptId}`;
  console.log(`${cloud}: ${offer.instanceType} in ${offer.region} (${offer.zones.join(', ')}) $${offer.hourlyPrice}/h`);
  const req = { clusterName: cluster, offer, offerKey: `smoke/${cluster}#0`, labels: { purpose: 'skyrun-smoke' } };
  try {
    let handle = await step(cloud, 'launch (until SSH answers)', () => p.provision(req, ctx));
    console.log(`${cloud}: head ${await step(cloud, 'run a command', () => runOnHead(handle))}`);
    const refusal = stopRefusal(p, handle);
    if (refusal) console.log(`${cloud}: stop skipped: ${refusal}`);
    else {
      await step(cloud, 'stop', () => p.stop!(handle, ctx));
      handle = await step(cloud, 'start (until SSH answers)', () => p.start!(handle, ctx));
      await step(cloud, 'run a command again', () => runOnHead(handle));
    }
  } finally {
    await closeAllSsh();
    await step(cloud, 'teardown', () => p.terminate(cluster));
    const left = await step(cloud, 'verify nothing left', () => p.query(cluster));
    if (left.length)
      throw new Error(`${cloud}: still listed after teardown: ${left.map((s) => s.instanceId).join(', ')}`);
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) usage(0);
  if (!argv.includes('--yes-spend-money')) {
    process.stderr.write('cloud-smoke: refusing to start billable instances without --yes-spend-money\n');
    usage(2);
  }
  const i = argv.indexOf('--clouds');
  const clouds = i >= 0 ? (argv[i + 1] ?? '').split(',').filter(Boolean) : CLOUDS;
  const unknown = clouds.filter((c) => !CLOUDS.includes(c));
  if (unknown.length || !clouds.length) {
    process.stderr.write(`cloud-smoke: --clouds: expected some of ${CLOUDS.join(',')}, got ${argv[i + 1] ?? ''}\n`);
    return 2;
  }
  const providers = createProviders();
  let failed = 0;
  for (const cloud of clouds) {
    try {
      await smoke(providers.get(cloud));
    } catch (e) {
      failed++;
      console.log(`${cloud}: FAILED: ${(e as Error).message}`);
    }
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
