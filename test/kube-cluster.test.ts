/**
 * The test Kubernetes control plane itself (test/helpers/kube.ts): real scheduling onto kwok fake
 * nodes (GPU capacity, labels, FailedScheduling), exec over the websocket API into a per-pod host
 * folder, port-forward to this host, two contexts on two namespaces, and a stop() that leaves no process or folder behind.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { Exec, KubeConfig, PortForward, type V1Pod, type V1Status } from '@kubernetes/client-node';
import { forContext } from '../activities/infra/clouds/kubernetes/kubeconfig';
import { processAlive } from '../activities/infra/runners/local';
import { startKubeCluster, type KubeCluster, CPU_NODE, L4_NODE } from './helpers/kube';
import { freePort, sleep } from './helpers/skyrun';

let cluster: KubeCluster;
let kc: KubeConfig;

beforeAll(async () => {
  const t0 = Date.now();
  cluster = await startKubeCluster({
    contexts: [
      { name: 'skyrun-a', namespace: 'ns-a' },
      { name: 'skyrun-b', namespace: 'ns-b' },
    ],
  });
  const started = Date.now() - t0;
  await Promise.all([cluster.addNode(L4_NODE), cluster.addNode(CPU_NODE)]);
  console.log(`control plane up in ${started} ms; two nodes Ready ${Date.now() - t0 - started} ms later`);
  kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
}, 90_000);

let leftover: number | undefined;

afterAll(async () => {
  if (!cluster) return;
  const t0 = Date.now();
  await cluster.stop();
  console.log(`stopped in ${Date.now() - t0} ms`);
  expect(existsSync(cluster.root)).toBe(false);
  if (leftover !== undefined) expect(processAlive(leftover)).toBe(false);
}, 60_000);

function pod(name: string, opts: { gpus?: number; selector?: Record<string, string> } = {}): V1Pod {
  const limits: Record<string, string> = opts.gpus ? { 'nvidia.com/gpu': String(opts.gpus) } : {};
  return {
    metadata: { name, labels: { app: 'harness-test' } },
    spec: {
      containers: [{ name: 'main', image: 'busybox', resources: { requests: { cpu: '1' }, limits } }],
      nodeSelector: opts.selector,
      restartPolicy: 'Never',
    },
  };
}

async function waitRunning(context: string, name: string): Promise<V1Pod> {
  const core = cluster.core(context);
  const namespace = cluster.namespaceOf(context);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const p = await core.readNamespacedPod({ name, namespace });
    if (p.status?.phase === 'Running') return p;
    if (Date.now() > deadline) throw new Error(`pod ${name} is ${p.status?.phase}, not Running`);
    await sleep(50);
  }
}

async function exec(context: string, name: string, script: string): Promise<{ out: string; status: V1Status }> {
  let out = '';
  const stdout = new Writable({ write: (c, _e, cb) => ((out += c), cb()) });
  const namespace = cluster.namespaceOf(context);
  return new Promise((resolve, reject) => {
    new Exec(forContext(kc, context))
      .exec(namespace, name, 'main', ['sh', '-c', script], stdout, null, null, false, (status) =>
        resolve({ out, status }),
      )
      .catch(reject);
  });
}

test('the kubeconfig has one context per namespace, the first current, and both namespaces exist', async () => {
  expect(cluster.contexts).toEqual(['skyrun-a', 'skyrun-b']);
  expect(kc.getCurrentContext()).toBe('skyrun-a');
  expect(kc.getContextObject('skyrun-b')?.namespace).toBe('ns-b');
  expect(kc.getCurrentCluster()?.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  expect(cluster.namespaceOf('skyrun-b')).toBe('ns-b');
  for (const ctx of cluster.contexts) {
    const ns = await cluster.core(ctx).readNamespace({ name: cluster.namespaceOf(ctx) });
    expect(ns.status?.phase).toBe('Active');
  }
});

test('a GPU pod lands on the GPU node with a pod IP, and exec runs in its own folder as HOME', async () => {
  const core = cluster.core('skyrun-a');
  await core.createNamespacedPod({
    namespace: 'ns-a',
    body: pod('gpu-pod', { gpus: 1, selector: { 'nvidia.com/gpu.product': 'NVIDIA-L4' } }),
  });
  await cluster.core('skyrun-b').createNamespacedPod({
    namespace: 'ns-b',
    body: pod('cpu-pod', { selector: { 'kubernetes.io/hostname': 'cpu-node' } }),
  });
  const running = await waitRunning('skyrun-a', 'gpu-pod');
  expect(running.spec?.nodeName).toBe('gpu-node');
  expect(running.status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  expect((await waitRunning('skyrun-b', 'cpu-pod')).spec?.nodeName).toBe('cpu-node');

  const t0 = Date.now();
  const r = await exec(
    'skyrun-a',
    'gpu-pod',
    'pwd; echo "$HOME"; mkdir -p ~/sky_workdir && echo hello > ~/sky_workdir/f',
  );
  console.log(`exec round trip ${Date.now() - t0} ms`);
  expect(r.status.status).toBe('Success');
  const dir = cluster.podDir('ns-a', 'gpu-pod');
  expect(r.out.split('\n').slice(0, 2)).toEqual([dir, dir]);
  expect(readFileSync(`${dir}/sky_workdir/f`, 'utf8')).toBe('hello\n');

  const other = await exec(
    'skyrun-b',
    'cpu-pod',
    'echo "$HOME"; ls ~/sky_workdir 2>&1 || true; sleep 600 >/dev/null 2>&1 & echo "$!"',
  );
  const [home, , pid] = other.out.trim().split('\n');
  expect(home).toBe(cluster.podDir('ns-b', 'cpu-pod'));
  expect(home).not.toBe(dir);
  leftover = Number(pid);
  expect(processAlive(leftover)).toBe(true); // outlives its exec; afterAll checks stop() killed it

  const env = (await exec('skyrun-a', 'gpu-pod', 'env')).out;
  expect(env).toContain('SKYRUN_KUBE_POD=ns-a/gpu-pod\n');
  expect(process.env.JEST_WORKER_ID).toBeDefined();
  expect(env).not.toContain('JEST_WORKER_ID'); // kwok runs with a trimmed environment

  const failed = await exec('skyrun-a', 'gpu-pod', 'exit 3');
  expect(failed.status.status).toBe('Failure'); // kwok: no exit code, a 500 naming "exit status 3"
  expect(failed.status.message).toContain('exit status 3');
});

test('deleting a pod kills what its execs left running and removes its folder', async () => {
  const core = cluster.core('skyrun-a');
  await core.createNamespacedPod({ namespace: 'ns-a', body: pod('short-lived') });
  await waitRunning('skyrun-a', 'short-lived');
  const r = await exec('skyrun-a', 'short-lived', 'sleep 600 >/dev/null 2>&1 & echo "$!"');
  const pid = Number(r.out.trim());
  expect(processAlive(pid)).toBe(true);
  await core.deleteNamespacedPod({ name: 'short-lived', namespace: 'ns-a' });
  const deadline = Date.now() + 15_000;
  while (processAlive(pid) || existsSync(cluster.podDir('ns-a', 'short-lived'))) {
    if (Date.now() > deadline) throw new Error('the deleted pod left its process or folder');
    await sleep(50);
  }
});

test('a pod asking more GPUs than any node has stays Pending with FailedScheduling', async () => {
  const core = cluster.core('skyrun-a');
  await core.createNamespacedPod({ namespace: 'ns-a', body: pod('too-big', { gpus: 16 }) });
  const deadline = Date.now() + 20_000;
  let message = '';
  while (!message) {
    const events = await core.listNamespacedEvent({
      namespace: 'ns-a',
      fieldSelector: 'involvedObject.name=too-big,reason=FailedScheduling',
    });
    message = events.items[0]?.message ?? '';
    if (!message && Date.now() > deadline) throw new Error('no FailedScheduling event for too-big');
    if (!message) await sleep(100);
  }
  expect(message).toContain('Insufficient nvidia.com/gpu');
  const p = await core.readNamespacedPod({ name: 'too-big', namespace: 'ns-a' });
  expect(p.status?.phase).toBe('Pending');
  expect(p.spec?.nodeName).toBeUndefined();
});

test('a port-forward to a port the pod declares reaches that port on this host', async () => {
  const port = await freePort();
  const server = net.createServer((s) => s.end(`hello from ${port}\n`));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  try {
    const core = cluster.core('skyrun-a');
    const body = pod('web');
    body.spec!.containers[0]!.ports = [{ containerPort: port }];
    await core.createNamespacedPod({ namespace: 'ns-a', body });
    await waitRunning('skyrun-a', 'web');
    let out = '';
    const output = new Writable({ write: (c, _e, cb) => ((out += c), cb()) });
    const ws = await new PortForward(forContext(kc, 'skyrun-a')).portForward(
      'ns-a',
      'web',
      [port],
      output,
      null,
      new PassThrough(),
    );
    try {
      const deadline = Date.now() + 10_000;
      while (!out.includes('hello') && Date.now() < deadline) await sleep(20);
      expect(out).toBe(`hello from ${port}\n`);
    } finally {
      (ws as { close(): void }).close();
    }
  } finally {
    server.close();
  }
});
