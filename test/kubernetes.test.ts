/**
 * The kubernetes provider against a real API server, scheduler and kwok nodes
 * (test/helpers/kube.ts): offers from live node shapes, pods as written (requests, limits,
 * labels, GPU selector, image), adoption on retry, an unschedulable GPU count failing as a
 * capacity error within provision_timeout with no pod left, ResourceQuota as quota-region, the
 * ports Service and its endpoints, terminate leaving nothing, and check()'s reasons. Provider
 * calls only: the exec runner (and so a full launch) is another module's.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { ProviderError } from '../core/errors';
import type { Offer } from '../core/offers';
import type { Resources } from '../core/task';
import { createProviders } from '../activities/infra/clouds';
import { KubernetesProvider, podName } from '../activities/infra/clouds/kubernetes';
import { acceleratorFromLabel, labelValueFor } from '../activities/infra/clouds/kubernetes/gpu-labels';
import { kubeGpuAvailability } from '../activities/infra/clouds/kubernetes/gpus';
import { podShapeFor } from '../activities/infra/clouds/kubernetes/offers';
import type { ProvisionContext, ProvisionRequest } from '../activities/infra/clouds/provider';
import { clusterEndpoints } from '../activities/infra/inspect';
import { startKubeCluster, type KubeCluster, CPU_NODE, L4_NODE } from './helpers/kube';

let cluster: KubeCluster;
let home: string;
const saved = { KUBECONFIG: process.env.KUBECONFIG, SKYRUN_CONFIG: process.env.SKYRUN_CONFIG };

const ctx: ProvisionContext = {
  heartbeat: () => undefined,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  attemptId: '',
};

function config(extra = ''): void {
  writeFileSync(
    process.env.SKYRUN_CONFIG!,
    `kubernetes:\n  allowed_contexts: [skyrun-a, skyrun-b]\n  provision_timeout: 2\n${extra}`,
  );
}

function resources(r: Partial<Resources> = {}): Resources {
  return { infra: {}, useSpot: false, ports: [], labels: {}, ...r };
}

function request(clusterName: string, offer: Offer, more: Partial<ProvisionRequest> = {}): ProvisionRequest {
  return { clusterName, offer, offerKey: `wf/${clusterName}#0`, labels: {}, ...more };
}

async function pods(context: string, cluster_: string): Promise<V1Pod[]> {
  const ns = cluster.namespaceOf(context);
  return (
    await cluster.core(context).listNamespacedPod({ namespace: ns, labelSelector: `skyrun.dev/cluster=${cluster_}` })
  ).items;
}

beforeAll(async () => {
  cluster = await startKubeCluster({
    contexts: [
      { name: 'skyrun-a', namespace: 'ns-a' },
      { name: 'skyrun-b', namespace: 'ns-b' },
    ],
  });
  await Promise.all([cluster.addNode(L4_NODE), cluster.addNode(CPU_NODE)]);
  home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-k8s-'));
  process.env.KUBECONFIG = cluster.kubeconfig;
  process.env.SKYRUN_CONFIG = path.join(home, 'config.yaml');
  config();
}, 120_000);

afterAll(async () => {
  process.env.KUBECONFIG = saved.KUBECONFIG;
  process.env.SKYRUN_CONFIG = saved.SKYRUN_CONFIG;
  if (home) rmSync(home, { recursive: true, force: true });
  await cluster?.stop();
}, 60_000);

test('label values map to catalog names and back', () => {
  expect(acceleratorFromLabel('NVIDIA-L4')).toBe('L4');
  expect(acceleratorFromLabel('nvidia-l4')).toBe('L4');
  expect(acceleratorFromLabel('l4')).toBe('L4');
  expect(acceleratorFromLabel('nvidia-tesla-t4')).toBe('T4');
  expect(acceleratorFromLabel('Tesla-T4')).toBe('T4');
  expect(acceleratorFromLabel('NVIDIA-A100-SXM4-80GB')).toBe('A100-80GB');
  expect(acceleratorFromLabel('NVIDIA-A100-SXM4-40GB')).toBe('A100');
  expect(acceleratorFromLabel('NVIDIA-H100-80GB-HBM3')).toBe('H100');
  expect(labelValueFor('cloud.google.com/gke-accelerator', 'L4')).toBe('nvidia-l4');
  expect(labelValueFor('skypilot.co/accelerator', 'L4')).toBe('l4');
  expect(podShapeFor(resources({ useSpot: true }))).toBeUndefined();
});

test('check: enabled with the context names; a missing kubeconfig and a refused token are reasons', async () => {
  const ok = await new KubernetesProvider().check();
  expect(ok.enabled).toBe(true);
  expect(ok.reason).toContain('skyrun-a (namespace ns-a)');
  expect(ok.reason).toContain('skyrun-b (namespace ns-b)');

  process.env.KUBECONFIG = path.join(home, 'nope');
  try {
    const missing = await new KubernetesProvider().check();
    expect(missing.enabled).toBe(false);
    expect(missing.reason).toMatch(/no kubeconfig found/);

    const good = readFileSync(cluster.kubeconfig, 'utf8');
    const token = /token: "?([0-9a-f]+)/.exec(good)?.[1];
    expect(token).toBeTruthy();
    const bad = path.join(home, 'bad-kubeconfig');
    writeFileSync(bad, good.replace(token!, 'f'.repeat(token!.length)));
    process.env.KUBECONFIG = bad;
    const refused = await new KubernetesProvider().check();
    expect(refused.enabled).toBe(false);
    expect(refused.reason).toMatch(/HTTP 401/);
    expect(refused.reason).toMatch(/refused the kubeconfig credentials/);
    expect(refused.reason).not.toContain('f'.repeat(token!.length));
  } finally {
    process.env.KUBECONFIG = cluster.kubeconfig;
  }
});

test('offers reflect the live node shapes, per allowed context, priced from config', async () => {
  const p = new KubernetesProvider();
  const l4 = await p.offers(resources({ accelerator: { name: 'L4', count: 1 } }), 1, 0);
  expect(l4.map((o) => [o.region, o.instanceType, o.hourlyPrice, o.zones])).toEqual([
    ['skyrun-a', '4CPU--16GB--L4:1', 0, []],
    ['skyrun-b', '4CPU--16GB--L4:1', 0, []],
  ]);
  expect(await p.offers(resources({ accelerator: { name: 'L4', count: 16 } }), 1, 0)).toEqual([]);
  expect(await p.offers(resources({ accelerator: { name: 'A100', count: 1 } }), 1, 0)).toEqual([]);
  expect(await p.offers(resources({ cpus: { value: 64, orMore: true } }), 1, 0)).toEqual([]);
  const only = await p.offers(resources({ infra: { cloud: 'kubernetes', region: 'skyrun-b' } }), 2, 1);
  expect(only.map((o) => [o.region, o.instanceType, o.numNodes, o.candidate])).toEqual([
    ['skyrun-b', '2CPU--2GB', 2, 1],
  ]);
  expect(await p.offers(resources({ infra: { cloud: 'aws' } }), 1, 0)).toEqual([]);

  config('  hourly_price: 0.25\n');
  try {
    const priced = await new KubernetesProvider().offers(resources(), 1, 0);
    expect(priced[0]?.hourlyPrice).toBe(0.25);
    config('  ports: Ingress\n');
    await expect(new KubernetesProvider().offers(resources(), 1, 0)).rejects.toThrow(
      /kubernetes\.ports: expected ClusterIP \| NodePort \| LoadBalancer \(SkyPilot's ingress and podip modes are not supported\)/,
    );
    config('  ports: nodeport\n'); // SkyPilot's lower case
    expect(await new KubernetesProvider().offers(resources(), 1, 0)).not.toHaveLength(0);
    config('  ports: Ingress\n');
    const disabled = await new KubernetesProvider().check();
    expect(disabled).toMatchObject({ enabled: false });
    expect(disabled.reason).toMatch(/kubernetes\.ports/);
  } finally {
    config();
  }
});

test('show-gpus: total and free GPUs per context and node (free = allocatable minus pod requests)', async () => {
  const core = cluster.core('skyrun-b');
  await core.createNamespacedPod({
    namespace: 'ns-b',
    body: {
      metadata: { name: 'gpu-hog' },
      spec: {
        restartPolicy: 'Never',
        nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-L4' },
        containers: [{ name: 'main', image: 'busybox', resources: { limits: { 'nvidia.com/gpu': '3' } } }],
      },
    },
  });
  try {
    const deadline = Date.now() + 20_000;
    while ((await core.readNamespacedPod({ name: 'gpu-hog', namespace: 'ns-b' })).spec?.nodeName !== 'gpu-node') {
      if (Date.now() > deadline) throw new Error('gpu-hog not scheduled');
      await ctx.sleep(100);
    }
    const [a] = await kubeGpuAvailability('skyrun-a');
    expect(a?.gpus).toEqual([{ gpu: 'L4', requestable: [1, 2, 4, 8], total: 8, free: 5 }]);
    expect(a?.nodes).toEqual([{ node: 'gpu-node', gpu: 'L4', total: 8, free: 5 }]);
  } finally {
    await core.deleteNamespacedPod({ name: 'gpu-hog', namespace: 'ns-b', gracePeriodSeconds: 0 });
  }
});

test('provision creates the pods as written; a retry adopts them; query and terminate by label', async () => {
  const providers = createProviders();
  const p = providers.get('kubernetes');
  const [offer] = await p.offers(resources({ accelerator: { name: 'L4', count: 1 } }), 2, 0);
  const req = request('gpu-job', offer!, { labels: { team: 'ml' }, imageId: 'docker:vllm/vllm-openai:latest' });
  const handle = await p.provision(req, ctx);

  expect(handle.nodes.map((n) => n.instanceId)).toEqual(['gpu-job-head', 'gpu-job-worker-1']);
  const list = await pods('skyrun-a', 'gpu-job');
  expect(list.map((x) => x.metadata?.name).sort()).toEqual(['gpu-job-head', 'gpu-job-worker-1']);
  const head = list.find((x) => x.metadata?.name === 'gpu-job-head')!;
  expect(head.metadata?.labels).toMatchObject({
    'skyrun.dev/cluster': 'gpu-job',
    'skyrun.dev/rank': '0',
    'skyrun.dev/node': 'head',
    team: 'ml',
  });
  expect(head.metadata?.labels?.['skyrun.dev/offer-key']).toMatch(/^[0-9a-f]{16}$/);
  expect(head.spec?.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-L4' });
  expect(head.spec?.nodeName).toBe('gpu-node');
  const c = head.spec!.containers[0]!;
  expect(c.name).toBe('skyrun');
  expect(c.image).toBe('vllm/vllm-openai:latest');
  expect(c.resources?.requests).toEqual({ cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' });
  expect(c.resources?.limits).toEqual({ 'nvidia.com/gpu': '1' });
  expect(handle.nodes[0]).toMatchObject({
    ip: head.status?.podIP,
    runner: { kind: 'kube', context: 'skyrun-a', namespace: 'ns-a', pod: 'gpu-job-head', container: 'skyrun' },
  });

  const uids = list.map((x) => x.metadata?.uid).sort();
  const again = await p.provision(req, ctx);
  expect(again.nodes.map((n) => n.ip)).toEqual(handle.nodes.map((n) => n.ip));
  expect((await pods('skyrun-a', 'gpu-job')).map((x) => x.metadata?.uid).sort()).toEqual(uids);

  expect((await p.query('gpu-job')).map((s) => s.state)).toEqual(['running', 'running']);
  await p.terminate('gpu-job');
  expect(await pods('skyrun-a', 'gpu-job')).toEqual([]);
  expect(await p.query('gpu-job')).toEqual([]);
  await p.terminate('gpu-job'); // idempotent
}, 60_000);

test('a pod left by an earlier try for another offer is replaced; the default image is used without docker:', async () => {
  const p = createProviders().get('kubernetes');
  const [offer] = await p.offers(resources({ infra: { cloud: 'kubernetes', region: 'skyrun-b' } }), 1, 0);
  await p.provision(request('cpu-job', offer!, { offerKey: 'old#0' }), ctx);
  const before = (await pods('skyrun-b', 'cpu-job'))[0]!;
  await p.provision(request('cpu-job', offer!), ctx);
  const after = await pods('skyrun-b', 'cpu-job');
  expect(after).toHaveLength(1);
  expect(after[0]!.metadata?.uid).not.toBe(before.metadata?.uid);
  expect(after[0]!.spec?.containers[0]?.image).toBe('ubuntu:22.04');
  expect(after[0]!.spec?.nodeSelector).toBeUndefined();
  await p.terminate('cpu-job');
}, 60_000);

test('more GPUs than any node has: a capacity error quoting the scheduler within provision_timeout, no pod left', async () => {
  const p = createProviders().get('kubernetes');
  const [one] = await p.offers(resources({ accelerator: { name: 'L4', count: 1 } }), 1, 0);
  const offer: Offer = { ...one!, instanceType: '4CPU--16GB--L4:16', accelerator: { name: 'L4', count: 16 } };
  const t0 = Date.now();
  const err = await p.provision(request('too-big', offer), ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  const took = Date.now() - t0;
  expect(err).toBeInstanceOf(ProviderError);
  expect((err as ProviderError).errorClass).toBe('capacity');
  expect((err as ProviderError).message).toMatch(
    /unschedulable in kubernetes context skyrun-a for 2 s: .*Insufficient nvidia\.com\/gpu/,
  );
  expect(took).toBeGreaterThanOrEqual(2_000);
  expect(took).toBeLessThan(15_000);
  expect(await pods('skyrun-a', 'too-big')).toEqual([]);
}, 30_000);

test('ResourceQuota exceeded on create is quota-region (the context is blocked)', async () => {
  const core = cluster.core('skyrun-b');
  await core.createNamespacedResourceQuota({
    namespace: 'ns-b',
    body: { metadata: { name: 'no-gpus' }, spec: { hard: { 'requests.nvidia.com/gpu': '0' } } },
  });
  // no quota controller runs here: its status is what admission checks against
  await core.replaceNamespacedResourceQuotaStatus({
    name: 'no-gpus',
    namespace: 'ns-b',
    body: {
      metadata: { name: 'no-gpus' },
      spec: { hard: { 'requests.nvidia.com/gpu': '0' } },
      status: { hard: { 'requests.nvidia.com/gpu': '0' }, used: { 'requests.nvidia.com/gpu': '0' } },
    },
  });
  try {
    const p = createProviders().get('kubernetes');
    const offers = await p.offers(resources({ accelerator: { name: 'L4', count: 1 } }), 1, 0);
    const b = offers.find((o) => o.region === 'skyrun-b')!;
    const err = await p.provision(request('quota-job', b), ctx).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as ProviderError).errorClass).toBe('quota-region');
    expect((err as ProviderError).message).toMatch(/exceeded quota/);
    await p.terminate('quota-job');
  } finally {
    await core.deleteNamespacedResourceQuota({ name: 'no-gpus', namespace: 'ns-b' });
  }
}, 30_000);

test('ports make one Service selecting the head; endpoints per type; teardown removes it', async () => {
  config('  ports: NodePort\n');
  try {
    const p = createProviders().get('kubernetes');
    const [offer] = await p.offers(resources({ infra: { cloud: 'kubernetes', region: 'skyrun-a' } }), 2, 0);
    const ports = [{ from: 8000, to: 8001 }];
    const handle = await p.provision(request('web', offer!, { ports }), ctx);
    expect(handle.ports).toEqual(ports);
    const svc = await cluster.core('skyrun-a').readNamespacedService({ name: 'web-ports', namespace: 'ns-a' });
    expect(svc.spec?.type).toBe('NodePort');
    expect(svc.spec?.selector).toEqual({ 'skyrun.dev/cluster': 'web', 'skyrun.dev/node': 'head' });
    expect(svc.spec?.ports?.map((x) => x.port)).toEqual([8000, 8001]);

    const eps = await clusterEndpoints(handle);
    const nodePort = svc.spec?.ports?.find((x) => x.port === 8000)?.nodePort;
    expect(eps[0]).toEqual({ port: 8000, address: `127.0.0.1:${nodePort}` });
    expect(eps).toHaveLength(2);
    await expect(clusterEndpoints(handle, 9000)).rejects.toThrow(/port 9000 is not open/);

    // a retry with another type replaces the Service (idempotent otherwise)
    config('  ports: ClusterIP\n');
    await p.provision(request('web', offer!, { ports }), ctx);
    const [one] = await clusterEndpoints(handle, 8001);
    expect(one?.address).toMatch(/^10\.96\.\d+\.\d+:8001$/);
    expect(one?.note).toMatch(/inside the cluster only/);

    await p.terminate('web');
    const left = await cluster.core('skyrun-a').listNamespacedService({
      namespace: 'ns-a',
      labelSelector: 'skyrun.dev/cluster=web',
    });
    expect(left.items).toEqual([]);
    expect(await pods('skyrun-a', 'web')).toEqual([]);
  } finally {
    config();
  }
}, 60_000);

test('pod names stay DNS-1123 for cluster names with capitals, underscores and dots', () => {
  expect(podName('My_Cluster.1', 0)).toMatch(/^my-cluster-1-[0-9a-f]{6}-head$/);
  expect(podName('2-managed', 3)).toBe('2-managed-worker-3');
});
