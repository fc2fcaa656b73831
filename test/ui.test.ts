/**
 * The Temporal UI is a first-class interface: a real headless Chromium opens the dev server's
 * UI on a failover launch and finds one summary per provisioning attempt, the failover table
 * in the current details, and the search attributes.
 */
import { existsSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { SkyrunEnv } from './helpers/skyrun';
import { simEnv, writeSimConfig } from './helpers/sim';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
let sr: SkyrunEnv;
let browser: Browser;

beforeAll(async () => {
  sr = await simEnv('ui');
  writeSimConfig(sr, { capacity_errors: ['us-east-2/use2-az1', 'us-east-2/use2-az2'] });
  expect((await sr.run(['server', 'start', '--ui'])).code).toBe(0);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await sr?.dispose();
});

test('the workflow page shows one summary per provision attempt and the attempts table', async () => {
  const r = await sr.run(['launch', '-y', '-c', 'ui-fo', '--infra', 'sim', '--gpus', 'A100:8', '--', 'echo ok']);
  expect(r.code).toBe(0);
  const { runId } = await (await sr.temporalClient()).workflow.getHandle('cluster/ui-fo').describe();

  const page = await browser.newPage({ viewport: { width: 1600, height: 2400 } });
  const base = `http://127.0.0.1:${sr.env.SKYRUN_UI_PORT}/namespaces/default/workflows`;
  await page.goto(`${base}/${encodeURIComponent('cluster/ui-fo')}/${runId}/history`);
  for (const summary of [
    'provision sim/us-east-2/use2-az1 p4d.24xlarge (offer 1 of 4)',
    'provision sim/us-east-2/use2-az2 p4d.24xlarge (offer 1 of 4)',
    'provision sim/us-west-2/usw2-az1 p4d.24xlarge (offer 2 of 4)',
  ]) {
    await page.getByText(summary).first().waitFor({ timeout: 30_000 });
  }
  // current details: the Markdown table of attempts (read through the worker), in User Metadata
  // (failure messages themselves are sealed, so the history shows "Encoded failure" for them)
  await page.getByText('User Metadata').first().click();
  // the UI renders Markdown details in a sandboxed frame
  await page
    .frameLocator('#user-metadata-current-details')
    .getByText(/InsufficientInstanceCapacity/)
    .first()
    .waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(sr.home, '..', 'skyrun-ui-history.png'), fullPage: false });

  // the list view filters by SkyRun's search attributes
  await page.goto(`${base}?query=${encodeURIComponent(`Cloud="sim" AND Phase="Up"`)}`);
  await page.getByText('cluster/ui-fo').first().waitFor({ timeout: 30_000 });
  await page.close();
  expect((await sr.run(['down', '-y', 'ui-fo'])).code).toBe(0);
});

test('the UI answers only to its own host name (no DNS rebinding)', async () => {
  const get = (host: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port: Number(sr.env.SKYRUN_UI_PORT), path: '/', headers: { host } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
    });
  expect(await get(`127.0.0.1:${sr.env.SKYRUN_UI_PORT}`)).toBe(200);
  expect(await get(`localhost:${sr.env.SKYRUN_UI_PORT}`)).toBe(200);
  expect(await get(`attacker.example:${sr.env.SKYRUN_UI_PORT}`)).toBe(421);
  expect(await get('attacker.example')).toBe(421);
});

test("a workflow started through the UI port's HTTP API, without the key, fails at once and runs nothing", async () => {
  const ui = `http://127.0.0.1:${sr.env.SKYRUN_UI_PORT}`;
  // the CSRF cookie the UI hands to any page load, as an attacker's script would take it
  const page = await fetch(`${ui}/`);
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const csrf = cookie.split('=')[1] ?? '';
  const marker = path.join(sr.home, 'pwned-through-ui');
  const input = {
    name: 'evil-ui',
    candidates: [{ infra: {} }],
    ordered: false,
    numNodes: 1,
    user: 'mallory',
    carried: {
      info: { name: 'evil-ui', status: 'UP', jobs: [], attempts: [], numNodes: 1, resources: '' },
      pending: [
        { id: 1, request: { run: `id > ${marker}`, envs: {}, secrets: {}, numGpusPerNode: 0, cpuDemand: 0.5 } },
      ],
      nextJobId: 2,
      idleSince: 0,
    },
  };
  const body = {
    workflowId: 'cluster/evil-ui',
    workflowType: { name: 'clusterWorkflow' },
    taskQueue: { name: 'skyrun' },
    input: {
      payloads: [
        {
          metadata: { encoding: Buffer.from('json/plain').toString('base64') },
          data: Buffer.from(JSON.stringify(input)).toString('base64'),
        },
      ],
    },
  };
  const r = await fetch(`${ui}/api/v1/namespaces/default/workflows/${encodeURIComponent('cluster/evil-ui')}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf },
    body: JSON.stringify(body),
  });
  expect(r.status).toBe(200); // the server takes it: the worker is what refuses it
  const h = (await sr.temporalClient()).workflow.getHandle('cluster/evil-ui');
  const err = await h.result().catch((e) => e);
  expect((err as { cause?: { type?: string } }).cause?.type).toBe('UnsealedPayload');
  expect(existsSync(marker)).toBe(false);
  expect(existsSync(path.join(sr.home, 'clusters', 'evil-ui'))).toBe(false);
});
