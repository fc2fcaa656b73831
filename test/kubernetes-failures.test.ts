/**
 * The kubernetes provider's harder paths, against a real API server, scheduler and kwok nodes
 * (test/helpers/kube.ts): an image that cannot be pulled and one that cannot start (kwok stages
 * failing those pods the way a kubelet does), the in-cluster service account when there is no
 * kubeconfig, credentials limited to one namespace (no node list), and allowed contexts that
 * do not answer (refused, or accepting and never replying) in offers, check, query and terminate.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { ProviderError } from '../core/errors';
import type { Offer } from '../core/offers';
import type { Resources } from '../core/task';
import { KubernetesProvider, kubeGpuAvailability } from '../activities/infra/clouds/kubernetes';
import type { ProvisionContext, ProvisionRequest } from '../activities/infra/clouds/provider';
import { KubeRunner, type KubeSpec } from '../activities/infra/runners/kube';
import { FAILING_IMAGES, startKubeCluster, type KubeCluster, CPU_NODE, L4_NODE } from './helpers/kube';
import { freePort } from './helpers/skyrun';

let cluster: KubeCluster;
let home: string;
const ENV = [
  'KUBECONFIG',
  'SKYRUN_CONFIG',
  'KUBERNETES_SERVICE_HOST',
  'KUBERNETES_SERVICE_PORT',
  'SKYRUN_K8S_SA_PATH_PREFIX',
] as const;
const saved = Object.fromEntries(ENV.map((k) => [k, process.env[k]]));

const ctx: ProvisionContext = {
  heartbeat: () => undefined,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  attemptId: '',
};

function config(allowed: string[] | undefined, extra = '', provisionTimeoutS = 2): void {
  const list = allowed ? `  allowed_contexts: [${allowed.join(', ')}]\n` : '';
  writeFileSync(process.env.SKYRUN_CONFIG!, `kubernetes:\n${list}  provision_timeout: ${provisionTimeoutS}\n${extra}`);
}

function resources(r: Partial<Resources> = {}): Resources {
  return { infra: {}, useSpot: false, ports: [], labels: {}, ...r };
}

function request(clusterName: string, offer: Offer, more: Partial<ProvisionRequest> = {}): ProvisionRequest {
  return { clusterName, offer, offerKey: `wf/${clusterName}#0`, labels: {}, ...more };
}

async function pods(namespace: string, name: string): Promise<V1Pod[]> {
  const list = await cluster.core().listNamespacedPod({ namespace, labelSelector: `skyrun.dev/cluster=${name}` });
  return list.items;
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ProviderError);
  return e as ProviderError;
}

beforeAll(async () => {
  cluster = await startKubeCluster({
    contexts: [
      { name: 'skyrun-a', namespace: 'ns-a' },
      { name: 'scoped', namespace: 'ns-s', user: 'alice' },
    ],
    users: ['alice'],
  });
  await Promise.all([cluster.addNode(L4_NODE), cluster.addNode(CPU_NODE), cluster.grantNamespace('alice', 'ns-s')]);
  home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-k8s-fail-'));
  process.env.KUBECONFIG = cluster.kubeconfig;
  process.env.SKYRUN_CONFIG = path.join(home, 'config.yaml');
}, 120_000);

afterEach(() => {
  for (const k of ENV) if (k !== 'SKYRUN_CONFIG') delete process.env[k];
  process.env.KUBECONFIG = cluster.kubeconfig;
});

afterAll(async () => {
  for (const k of ENV)
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  if (home) rmSync(home, { recursive: true, force: true });
  await cluster?.stop();
}, 60_000);

test('the harness fails a missing image as a kubelet does: ErrImagePull, then ImagePullBackOff, still Pending', async () => {
  const core = cluster.core();
  const image = `${FAILING_IMAGES.missing}:probe`;
  await core.createNamespacedPod({
    namespace: 'ns-a',
    body: { metadata: { name: 'pull-probe' }, spec: { containers: [{ name: 'main', image }] } },
  });
  try {
    const seen: string[] = [];
    const deadline = Date.now() + 20_000;
    for (;;) {
      const p = await core.readNamespacedPod({ name: 'pull-probe', namespace: 'ns-a' });
      const reason = p.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      if (reason && seen.at(-1) !== reason) seen.push(reason);
      expect(p.status?.phase ?? 'Pending').toBe('Pending');
      if (reason === 'ImagePullBackOff') {
        expect(p.status?.containerStatuses?.[0]?.state?.waiting?.message).toBe(`Back-off pulling image "${image}"`);
        break;
      }
      if (Date.now() > deadline) throw new Error(`no ImagePullBackOff in time (seen ${seen.join(', ')})`);
      await ctx.sleep(100);
    }
    expect(seen).toEqual(['ErrImagePull', 'ImagePullBackOff']);
  } finally {
    await core.deleteNamespacedPod({ name: 'pull-probe', namespace: 'ns-a', gracePeriodSeconds: 0 });
  }
}, 30_000);

test('an image that cannot be pulled is invalid at once, naming the image, and leaves no pod', async () => {
  config(['skyrun-a'], '', 60);
  const p = new KubernetesProvider();
  const [offer] = await p.offers(resources(), 1, 0);
  const t0 = Date.now();
  const err = await failure(
    p.provision(request('pull-fails', offer!, { imageId: `docker:${FAILING_IMAGES.missing}:1` }), ctx),
  );
  expect(err.errorClass).toBe('invalid');
  expect(err.message).toContain(`cannot pull image ${FAILING_IMAGES.missing}:1`);
  expect(err.message).toMatch(/ErrImagePull|ImagePullBackOff/);
  expect(err.message).toContain(`docker.io/${FAILING_IMAGES.missing}:1: not found`);
  expect(Date.now() - t0).toBeLessThan(15_000); // not the 60 s provision timeout
  expect(await pods('ns-a', 'pull-fails')).toEqual([]);
}, 30_000);

test('an image whose container cannot start (no /bin/sh) is invalid, naming the image, and leaves no pod', async () => {
  config(['skyrun-a']);
  const p = new KubernetesProvider();
  const [offer] = await p.offers(resources(), 1, 0);
  const err = await failure(
    p.provision(request('no-shell', offer!, { imageId: `docker:${FAILING_IMAGES.noShell}:1` }), ctx),
  );
  expect(err.errorClass).toBe('invalid');
  expect(err.message).toMatch(/pod no-shell-head ended while starting: StartError: .*stat \/bin\/sh: no such file/);
  expect(err.message).toContain(`image ${FAILING_IMAGES.noShell}:1`);
  expect(await pods('ns-a', 'no-shell')).toEqual([]);
}, 30_000);

test('in a pod with no kubeconfig: the service account as context in-cluster, for check, offers and pods', async () => {
  const prefix = path.join(home, 'pod-root');
  const sa = path.join(prefix, 'var/run/secrets/kubernetes.io/serviceaccount');
  mkdirSync(sa, { recursive: true });
  writeFileSync(path.join(sa, 'ca.crt'), readFileSync(cluster.caFile));
  writeFileSync(path.join(sa, 'namespace'), 'ns-a');
  config(undefined);
  process.env.KUBECONFIG = path.join(home, 'no-such-kubeconfig');
  process.env.SKYRUN_K8S_SA_PATH_PREFIX = prefix;
  process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
  process.env.KUBERNETES_SERVICE_PORT = new URL(cluster.server).port;

  // no token file: not a usable pod, and check says what it looked for
  const none = await new KubernetesProvider().check();
  expect(none.enabled).toBe(false);
  expect(none.reason).toMatch(/no kubeconfig found .*not running in a pod with a service account/);

  writeFileSync(path.join(sa, 'token'), cluster.tokenOf());
  const p = new KubernetesProvider();
  const ok = await p.check();
  expect(ok).toEqual({ enabled: true, reason: 'contexts: in-cluster (namespace ns-a)' });
  const offers = await p.offers(resources({ accelerator: { name: 'L4', count: 1 } }), 1, 0);
  expect(offers.map((o) => [o.region, o.instanceType])).toEqual([['in-cluster', '4CPU--16GB--L4:1']]);
  const handle = await p.provision(request('in-pod', offers[0]!), ctx);
  expect(handle.nodes[0]?.runner).toMatchObject({ kind: 'kube', context: 'in-cluster', namespace: 'ns-a' });
  expect((await pods('ns-a', 'in-pod')).map((x) => x.spec?.nodeName)).toEqual(['gpu-node']);
  // the exec runner reaches the pod the same way
  const ran = await new KubeRunner(handle.nodes[0]!.runner as KubeSpec).exec(['sh', '-c', 'echo "$SKYRUN_KUBE_POD"']);
  expect(ran).toEqual({ code: 0, stdout: 'ns-a/in-pod-head\n', stderr: '' });
  await p.terminate('in-pod');
  expect(await pods('ns-a', 'in-pod')).toEqual([]);

  // a kubeconfig file wins over the service account
  process.env.KUBECONFIG = cluster.kubeconfig;
  expect((await new KubernetesProvider().check()).reason).toBe('contexts: skyrun-a (namespace ns-a)');
}, 60_000);

test('credentials for one namespace (no node list): check says so; CPU and GPU pods still provision', async () => {
  config(['scoped']);
  const p = new KubernetesProvider();
  const ok = await p.check();
  expect(ok.enabled).toBe(true);
  expect(ok.reason).toMatch(/^contexts: scoped \(namespace ns-s; may not list nodes, so offers are not checked/);
  // the RBAC is real: alice may not list nodes, nor pods in another namespace
  const alice = cluster.core('scoped');
  await expect(alice.listNode()).rejects.toMatchObject({ code: 403 });
  await expect(alice.listNamespacedPod({ namespace: 'ns-a' })).rejects.toMatchObject({ code: 403 });
  // show-gpus has nothing to show there, and says why
  const [shown] = await kubeGpuAvailability();
  expect(shown).toMatchObject({ context: 'scoped', gpus: [] });
  expect(shown?.error).toMatch(/list nodes of context scoped: HTTP 403: .*cannot list resource "nodes"/);

  // unverified offers: any shape, even one no node could hold (the scheduler says so later)
  const [cpu] = await p.offers(resources(), 1, 0);
  expect([cpu?.region, cpu?.instanceType]).toEqual(['scoped', '2CPU--2GB']);
  expect(await p.offers(resources({ cpus: { value: 64, orMore: false } }), 1, 0)).toHaveLength(1);
  const handle = await p.provision(request('scoped-cpu', cpu!), ctx);
  expect(handle.nodes[0]?.runner).toMatchObject({ context: 'scoped', namespace: 'ns-s' });
  expect((await pods('ns-s', 'scoped-cpu'))[0]?.status?.phase).toBe('Running');
  await p.terminate('scoped-cpu');
  expect(await pods('ns-s', 'scoped-cpu')).toEqual([]);

  // GPUs: selected on the first known label's spelling (skypilot.co/accelerator=l4): no node has it,
  // so the pod stays unschedulable and fails over as capacity; with gpu_label set it lands
  const [gpu] = await p.offers(resources({ accelerator: { name: 'L4', count: 1 } }), 1, 0);
  const guessed = await failure(p.provision(request('scoped-gpu', gpu!), ctx));
  expect(guessed.errorClass).toBe('capacity');
  expect(guessed.message).toMatch(/unschedulable in kubernetes context scoped for 2 s: .*node affinity\/selector/);
  expect(await pods('ns-s', 'scoped-gpu')).toEqual([]);

  config(['scoped'], '  gpu_label: nvidia.com/gpu.product\n');
  const q = new KubernetesProvider();
  await q.provision(request('scoped-gpu', gpu!), ctx);
  const [pod] = await pods('ns-s', 'scoped-gpu');
  expect(pod?.spec?.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-L4' });
  expect(pod?.spec?.nodeName).toBe('gpu-node');
  await q.terminate('scoped-gpu');
}, 60_000);

/** A server that accepts connections and never answers (a black-holed API server). */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => void sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** The test kubeconfig plus contexts `dead` (a closed port) and `silent` (never answers), same credentials. */
async function kubeconfigWithBadContexts(silentPort: number): Promise<string> {
  const good = parse(readFileSync(cluster.kubeconfig, 'utf8'));
  const real = good.clusters[0];
  const user = good.contexts[0].context.user;
  const closed = await freePort();
  good.clusters.push(
    { name: 'dead', cluster: { ...real.cluster, server: `https://127.0.0.1:${closed}` } },
    { name: 'silent', cluster: { ...real.cluster, server: `https://127.0.0.1:${silentPort}` } },
  );
  good.contexts.push(
    { name: 'dead', context: { cluster: 'dead', user, namespace: 'ns-a' } },
    { name: 'silent', context: { cluster: 'silent', user, namespace: 'ns-a' } },
  );
  const file = path.join(home, 'kubeconfig-bad-contexts');
  writeFileSync(file, stringify(good), { mode: 0o600 });
  return file;
}

test('allowed contexts that do not answer: the others still offer within the probe timeout; check names them', async () => {
  const silent = await silentServer();
  try {
    process.env.KUBECONFIG = await kubeconfigWithBadContexts(silent.port);
    config(['dead', 'silent', 'skyrun-a']);
    const t0 = Date.now();
    const offers = await new KubernetesProvider().offers(resources(), 1, 0);
    expect(offers.map((o) => o.region)).toEqual(['skyrun-a']);
    expect(Date.now() - t0).toBeLessThan(9_000); // the 5 s probe timeout, not the 10 s API timeout

    const c = await new KubernetesProvider().check();
    expect(c.enabled).toBe(true);
    expect(c.reason).toMatch(/^contexts: skyrun-a \(namespace ns-a\); unusable: /);
    expect(c.reason).toMatch(/context dead: API server unreachable \(ECONNREFUSED\)/);
    expect(c.reason).toMatch(/context silent: the API server did not answer in time/);
  } finally {
    await silent.close();
  }
}, 30_000);

test('terminate with an unreachable context cleans the others but does not report the cluster gone', async () => {
  process.env.KUBECONFIG = await kubeconfigWithBadContexts(await freePort());
  config(['skyrun-a']);
  const p = new KubernetesProvider();
  const [offer] = await p.offers(resources(), 1, 0);
  await p.provision(request('half-gone', offer!), ctx);

  config(['dead', 'skyrun-a']);
  expect((await p.query('half-gone')).map((s) => s.state)).toEqual(['running']);
  const err = await failure(p.terminate('half-gone'));
  expect(err.errorClass).toBe('transient');
  expect(err.message).toMatch(
    /in dead\/ns-a: API server unreachable .*half-gone may still have pods or services there/,
  );
  expect(await pods('ns-a', 'half-gone')).toEqual([]); // the reachable context was cleaned anyway
  // nothing found where it could look, and one context unanswered: not an empty answer either
  await expect(p.query('half-gone')).rejects.toThrow(/dead\/ns-a: API server unreachable/);

  config(['skyrun-a']);
  await p.terminate('half-gone');
}, 60_000);
