/**
 * Kubernetes end to end through the real `skyrun` CLI, dev server and worker, on one real
 * control plane (test/helpers/kube.ts: apiserver, scheduler, kwok nodes; exec runs on this host
 * in a folder per pod) with two contexts on two namespaces, and the sim infra beside it: CPU and
 * GPU tasks with their output (and the time from `launch` to the first output line), failover
 * off a full cluster to sim within provision_timeout, failover across contexts past a
 * ResourceQuota, a worker SIGKILL while a pod is being created, a 2-pod gang's SKYPILOT_* vars,
 * ssh into a pod, `check`'s reasons, and the headline example (docker image, one L4, a port):
 * its Service, its endpoint and an HTTP answer through a port-forward, then `down` leaving
 * nothing. Provider-level detail is in kubernetes.test.ts, the runner's in runner-kube.test.ts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { KubeConfig, PortForward, type V1Pod, type V1Service } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { forContext } from '../activities/infra/clouds/kubernetes/kubeconfig';
import { startKubeCluster, type KubeCluster } from './helpers/kube';
import { liveInstances, simEnv } from './helpers/sim';
import { REPO, SkyrunEnv, eventually, freePort } from './helpers/skyrun';

const A = { name: 'kube-a', namespace: 'ns-a' };
const B = { name: 'kube-b', namespace: 'ns-b' };
const L4 = { count: 2, label: 'nvidia.com/gpu.product', value: 'NVIDIA-L4' };

let cluster: KubeCluster;
let sr: SkyrunEnv;

function writeConfig(extra: Record<string, unknown> = {}): void {
  writeFileSync(
    path.join(sr.home, 'config.yaml'),
    stringify({
      kubernetes: { allowed_contexts: [A.name, B.name], provision_timeout: 3, ports: 'NodePort', ...extra },
    }),
  );
}

beforeAll(async () => {
  const t0 = Date.now();
  [cluster, sr] = await Promise.all([startKubeCluster({ contexts: [A, B] }), simEnv('k8s-launch')]);
  sr.env.KUBECONFIG = cluster.kubeconfig;
  writeConfig();
  const [server] = await Promise.all([
    sr.run(['server', 'start']),
    cluster.addNode({ name: 'gpu-node', cpus: 16, memoryGiB: 64, gpus: L4 }),
    cluster.addNode({ name: 'cpu-node', cpus: 8, memoryGiB: 32 }),
  ]);
  expect(server.code).toBe(0);
  console.log(`control plane, nodes and skyrun server up in ${Date.now() - t0} ms`);
}, 240_000);

afterAll(async () => {
  await sr?.dispose();
  await cluster?.stop();
}, 30_000);

async function podsOf(name: string, ns = A.namespace): Promise<V1Pod[]> {
  const ctx = ns === A.namespace ? A.name : B.name;
  return (await cluster.core(ctx).listNamespacedPod({ namespace: ns, labelSelector: `skyrun.dev/cluster=${name}` }))
    .items;
}

async function servicesOf(name: string, ns = A.namespace): Promise<V1Service[]> {
  const ctx = ns === A.namespace ? A.name : B.name;
  return (await cluster.core(ctx).listNamespacedService({ namespace: ns, labelSelector: `skyrun.dev/cluster=${name}` }))
    .items;
}

async function down(name: string): Promise<void> {
  const r = await sr.run(['down', '-y', name]);
  if (r.code !== 0) throw new Error(r.stderr);
  for (const ns of [A.namespace, B.namespace]) {
    expect(await podsOf(name, ns)).toEqual([]);
    expect(await servicesOf(name, ns)).toEqual([]);
  }
}

/** `skyrun launch ARGS`, with the time from spawning it to the first line holding `marker`. */
async function timedLaunch(args: string[], marker: string) {
  const t0 = Date.now();
  const child = sr.spawn(['launch', '-y', ...args]);
  let firstOutputMs: number | undefined;
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += String(d);
    if (firstOutputMs === undefined && out.includes(marker)) firstOutputMs = Date.now() - t0;
  });
  const r = await child.result;
  return { ...r, firstOutputMs };
}

/** A pod the test makes itself, holding `gpus` L4s of the GPU node (the cluster is "full"). */
async function filler(gpus: number): Promise<() => Promise<void>> {
  const core = cluster.core(A.name);
  await core.createNamespacedPod({
    namespace: A.namespace,
    body: {
      metadata: { name: 'gpu-filler' },
      spec: {
        containers: [
          {
            name: 'main',
            image: 'busybox',
            resources: { requests: { 'nvidia.com/gpu': String(gpus) }, limits: { 'nvidia.com/gpu': String(gpus) } },
          },
        ],
        restartPolicy: 'Never',
      },
    },
  });
  await eventually(async () => {
    const p = await core.readNamespacedPod({ name: 'gpu-filler', namespace: A.namespace });
    return p.status?.phase === 'Running';
  }, 20_000);
  return async () => {
    await core.deleteNamespacedPod({ name: 'gpu-filler', namespace: A.namespace, gracePeriodSeconds: 0 });
  };
}

test('a CPU task and a GPU task run on the cluster with their output; the GPU one outranks sim', async () => {
  const cpu = await timedLaunch(
    ['-c', 'kcpu', '--infra', 'k8s', '--', 'echo "first-line rank=$SKYPILOT_NODE_RANK"; echo "home=$HOME"'],
    'first-line',
  );
  if (cpu.code !== 0) throw new Error(cpu.stderr);
  expect(cpu.stdout).toContain('first-line rank=0');
  expect(cpu.stdout).toContain(`home=${cluster.podDir(A.namespace, 'kcpu-head')}`);
  console.log(`CPU task: launch -> first output line ${cpu.firstOutputMs} ms`);

  // no --infra: Kubernetes (price 0) before the sim's g6.xlarge
  const gpu = await timedLaunch(
    ['-c', 'kgpu', '--gpus', 'L4:1', '--', 'echo "gpu-line gpus=$SKYPILOT_NUM_GPUS_PER_NODE"'],
    'gpu-line',
  );
  if (gpu.code !== 0) throw new Error(gpu.stderr);
  expect(gpu.stdout).toContain('gpu-line gpus=1');
  expect(gpu.stderr).toMatch(/✓ kubernetes\/kube-a 4CPU--16GB--L4:1/);
  console.log(`GPU task: launch -> first output line ${gpu.firstOutputMs} ms`);
  const [pod] = await podsOf('kgpu');
  expect(pod?.spec?.nodeName).toBe('gpu-node');
  expect(pod?.spec?.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-L4' });
  expect(pod?.spec?.containers[0]?.resources?.limits).toEqual({ 'nvidia.com/gpu': '1' });
  await Promise.all([down('kcpu'), down('kgpu')]);
}, 60_000);

test('a full cluster: the pod stays unschedulable, both contexts fail over to sim within provision_timeout, no pod left', async () => {
  const release = await filler(L4.count);
  try {
    const t0 = Date.now();
    const r = await sr.run(['launch', '-y', '-c', 'kfull', '--gpus', 'L4:1', '--', 'echo "on $SKYPILOT_NUM_NODES"']);
    const took = Date.now() - t0;
    if (r.code !== 0) throw new Error(r.stderr);
    expect(r.stderr).toMatch(
      /✗ kubernetes\/kube-a 4CPU--16GB--L4:1: capacity: .*unschedulable .* for 3 s: .*Insufficient nvidia\.com\/gpu/,
    );
    expect(r.stderr).toMatch(/✗ kubernetes\/kube-b 4CPU--16GB--L4:1: capacity/);
    expect(r.stderr).toMatch(/✓ sim\/\S+ g6\.xlarge/);
    expect(r.stdout).toContain('on 1');
    expect(took).toBeLessThan(30_000); // two provision timeouts of 3 s, not the default 60 s
    expect(await podsOf('kfull', A.namespace)).toEqual([]);
    expect(await podsOf('kfull', B.namespace)).toEqual([]);
    expect(liveInstances(sr, 'kfull')).toHaveLength(1);
    expect((await sr.run(['down', '-y', 'kfull'])).code).toBe(0);
  } finally {
    await release();
  }
}, 60_000);

test('two contexts: a ResourceQuota blocks the first, the launch lands on the second and says why', async () => {
  const core = cluster.core(A.name);
  const hard = { 'requests.nvidia.com/gpu': '0' };
  await core.createNamespacedResourceQuota({
    namespace: A.namespace,
    body: { metadata: { name: 'no-gpus' }, spec: { hard } },
  });
  // no quota controller runs here: admission checks the status
  await core.replaceNamespacedResourceQuotaStatus({
    name: 'no-gpus',
    namespace: A.namespace,
    body: { metadata: { name: 'no-gpus' }, spec: { hard }, status: { hard, used: hard } },
  });
  try {
    const r = await sr.run(['launch', '-y', '-c', 'kquota', '--infra', 'k8s', '--gpus', 'L4:1', '--', 'echo landed']);
    if (r.code !== 0) throw new Error(r.stderr);
    expect(r.stdout).toContain('landed');
    expect(r.stderr).toMatch(/✗ kubernetes\/kube-a 4CPU--16GB--L4:1: quota-region: .*exceeded quota: no-gpus/);
    expect(r.stderr).toMatch(/✓ kubernetes\/kube-b 4CPU--16GB--L4:1/);
    expect(await podsOf('kquota', A.namespace)).toEqual([]);
    expect((await podsOf('kquota', B.namespace)).map((p) => p.metadata?.name)).toEqual(['kquota-head']);
    await down('kquota');
  } finally {
    await core.deleteNamespacedResourceQuota({ name: 'no-gpus', namespace: A.namespace });
  }
}, 60_000);

/** Kill the worker while the pod of `kcrash` exists but cannot run yet; a new worker comes up. */
async function killWhileCreating() {
  const release = await filler(L4.count); // the pod stays Pending until the worker is dead
  const args = ['-y', '-d', '-c', 'kcrash', '--infra', 'k8s/kube-a', '--gpus', 'L4:1', '--', 'echo survived'];
  const launch = sr.spawn(['launch', ...args]);
  try {
    const uid = await eventually(async () => (await podsOf('kcrash'))[0]?.metadata?.uid, 30_000);
    const pid = await sr.killWorker();
    await release();
    expect((await sr.run(['status'])).code).toBe(0); // brings a new worker up
    expect(sr.workerPid()).not.toBe(pid);
    return { launch, uid };
  } catch (e) {
    await release().catch(() => undefined);
    throw e;
  }
}

/** The retried provision (after the heartbeat timeout) adopts the pod: one pod, the same uid. */
async function adopted({ launch, uid }: Awaited<ReturnType<typeof killWhileCreating>>): Promise<void> {
  const r = await launch.result;
  if (r.code !== 0) throw new Error(r.stderr);
  const pods = await podsOf('kcrash');
  expect(pods.map((p) => [p.metadata?.name, p.metadata?.uid])).toEqual([['kcrash-head', uid]]);
  expect(await podsOf('kcrash', B.namespace)).toEqual([]);
  const logs = await sr.run(['logs', 'kcrash', '1']);
  expect(logs.stdout).toBe('survived\n');
  await down('kcrash');
}

async function gangAndSsh(): Promise<void> {
  const run = 'echo "rank=$SKYPILOT_NODE_RANK nodes=$SKYPILOT_NUM_NODES ips=$(echo $SKYPILOT_NODE_IPS | tr " " ,)"';
  const r = await sr.run(['launch', '-y', '-c', 'kgang', '--infra', 'k8s', '--num-nodes', '2', '--', run]);
  if (r.code !== 0) throw new Error(r.stderr);
  const byName = new Map((await podsOf('kgang')).map((p) => [p.metadata?.name, p.status?.podIP]));
  const ips = [byName.get('kgang-head'), byName.get('kgang-worker-1')];
  expect(ips.every((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip ?? ''))).toBe(true);
  expect(r.stdout).toContain(`(head, rank=0) rank=0 nodes=2 ips=${ips.join(',')}`);
  expect(r.stdout).toContain(`(worker1, rank=1) rank=1 nodes=2 ips=${ips.join(',')}`);

  const ssh = await sr.run(['ssh', 'kgang', '--', 'echo', 'hello-from', '$HOME']);
  expect(ssh.code).toBe(0);
  expect(ssh.stdout.trim()).toBe(`hello-from ${cluster.podDir(A.namespace, 'kgang-head')}`);
  const worker = await sr.run(['ssh', 'kgang', '--node', '1', '--', 'echo $HOME']);
  expect(worker.stdout.trim()).toBe(cluster.podDir(A.namespace, 'kgang-worker-1'));
  await down('kgang');
}

// one test: the gang runs while the killed provision waits out its heartbeat timeout (15 s)
test('a worker SIGKILL while a pod is created: the pod is adopted, no duplicate; meanwhile a 2-pod gang sees its SKYPILOT_* vars and ssh reaches each pod', async () => {
  const crashed = await killWhileCreating();
  await Promise.all([adopted(crashed), gangAndSsh()]);
}, 60_000);

test('check: Kubernetes enabled with its contexts; a missing kubeconfig and a refused token are reasons', async () => {
  const other = await SkyrunEnv.create('k8s-check'); // no config.yaml: the current context only
  try {
    const missing = path.join(other.home, 'no-such-kubeconfig');
    const bad = path.join(other.home, 'kubeconfig');
    writeFileSync(bad, readFileSync(cluster.kubeconfig, 'utf8').replace(/token: \S+/, 'token: not-the-token'));
    const [ok, r1, r2] = await Promise.all([
      sr.run(['check', 'k8s']),
      other.run(['check', 'k8s'], { env: { KUBECONFIG: missing } }),
      other.run(['check', 'k8s'], { env: { KUBECONFIG: bad } }),
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/kubernetes\s+enabled\s+contexts: kube-a \(namespace ns-a\), kube-b \(namespace ns-b\)/);
    expect(r1.code).toBe(1);
    expect(r1.stdout).toMatch(
      /kubernetes\s+disabled\s+no kubeconfig found \(looked at \S+no-such-kubeconfig; set KUBECONFIG\)/,
    );
    expect(r2.code).toBe(1);
    expect(r2.stdout).toMatch(
      /kubernetes\s+disabled\s+context kube-a: HTTP 401 \(the server refused the kubeconfig credentials\)/,
    );
  } finally {
    await other.dispose();
  }
}, 30_000);

/** Port 8000 when free on this host (kwok forwards the pod's port to the same port here), else another. */
async function servePort(): Promise<number> {
  const free = await new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(8000, '0.0.0.0', () => s.close(() => resolve(true)));
  });
  return free ? 8000 : freePort();
}

/** A local listener that port-forwards each connection to `port` of the pod (as `kubectl port-forward`). */
async function portForward(pod: string, port: number): Promise<{ port: number; close(): void }> {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const pf = new PortForward(forContext(kc, A.name));
  const open = new Set<{ close(): void }>();
  const server = net.createServer((socket) => {
    pf.portForward(A.namespace, pod, [port], socket, null, socket).then(
      (ws) => {
        const w = ws as { close(): void };
        open.add(w);
        socket.on('close', () => (w.close(), open.delete(w)));
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      server.close();
      for (const w of open) w.close();
    },
  };
}

/** One GET, given up after 3 s (a forward that goes nowhere never answers). */
function get(url: string): Promise<{ status?: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.setTimeout(3_000, () => req.destroy(new Error(`no answer from ${url} in 3 s`)));
    req.on('error', reject);
  });
}

test('the headline example: docker image on the pod, an L4, a Service; its endpoint printed; it answers through a port-forward; down leaves nothing', async () => {
  const example = path.join(REPO, 'examples', 'serve-k8s.yaml');
  expect(existsSync(example)).toBe(true);
  const port = await servePort();
  const override = port === 8000 ? [] : ['--ports', String(port), '--env', `PORT=${port}`];
  const r = await sr.run(['launch', '-y', '-d', '-c', 'serve', '--infra', 'k8s', ...override, example]);
  if (r.code !== 0) throw new Error(r.stderr);

  // -d returns once the launch is submitted: the endpoint is there once the cluster is UP
  const one = await eventually(async () => {
    const e = await sr.run(['status', '--endpoint', String(port), 'serve']);
    return e.code === 0 && e;
  }, 30_000);
  const [pod] = await podsOf('serve');
  expect(pod?.spec?.containers[0]?.image).toBe('vllm/vllm-openai:latest');
  expect(pod?.spec?.containers[0]?.resources?.limits).toEqual({ 'nvidia.com/gpu': '1' });
  const [svc] = await servicesOf('serve');
  expect(svc?.spec?.type).toBe('NodePort');
  const nodePort = svc?.spec?.ports?.find((p) => p.port === port)?.nodePort;
  expect(nodePort).toBeGreaterThan(0);
  expect(one.stdout.trim()).toBe(`http://127.0.0.1:${nodePort}`);
  const all = await sr.run(['status', '--endpoints', 'serve']);
  expect(all.stdout).toContain(`${port}: http://127.0.0.1:${nodePort}`);
  console.log(`endpoints of the example:\n${all.stdout}`);

  const fwd = await portForward('serve-head', port);
  try {
    const answer = await eventually(() => get(`http://127.0.0.1:${fwd.port}/v1/models`).catch(() => undefined), 30_000);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({
      object: 'list',
      data: [{ id: 'Qwen/Qwen2.5-0.5B-Instruct', object: 'model' }],
    });
  } finally {
    fwd.close();
  }
  const logs = await sr.run(['logs', 'serve', '1', '--no-follow']);
  expect(logs.stdout).toMatch(new RegExp(`Serving HTTP on 0\\.0\\.0\\.0 port ${port}`));
  expect(logs.stdout).toContain('"GET /v1/models HTTP/1.1" 200');
  await down('serve');
}, 60_000);
