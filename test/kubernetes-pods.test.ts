/**
 * What a task asks of its pods besides resources, against a real API server, scheduler and kwok
 * nodes (test/helpers/kube.ts): kubernetes.pod_config from config.yaml and the task's own
 * pod_config merged into the created pod (SkyRun's name, labels, image and requests winning),
 * task `volumes` mounting an existing PersistentVolumeClaim (pre-bound to a PersistentVolume
 * here, as the harness runs no controller-manager to bind it), a missing claim refused as invalid
 * before any pod exists, a malformed pod_config as a config error naming the field, and volumes
 * on other infra refused by the launch checks. Provider calls only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { ProviderError } from '../core/errors';
import type { Offer } from '../core/offers';
import { checkLaunchable, parseTask, type Resources } from '../core/task';
import { KubernetesProvider, podName } from '../activities/infra/clouds/kubernetes';
import type { ProvisionContext, ProvisionRequest } from '../activities/infra/clouds/provider';
import { LocalProvider } from '../activities/infra/clouds/local';
import { optimize } from '../activities/infra/optimizer';
import { startKubeCluster, type KubeCluster } from './helpers/kube';

let cluster: KubeCluster;
let home: string;
const NS = 'ns-p';
const saved = { KUBECONFIG: process.env.KUBECONFIG, SKYRUN_CONFIG: process.env.SKYRUN_CONFIG };

const ctx: ProvisionContext = {
  heartbeat: () => undefined,
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  attemptId: '',
};

const POD_CONFIG = `  pod_config:
    metadata:
      labels: {team: ml, skyrun.dev/cluster: not-this}
      annotations: {example.com/owner: alice}
    spec:
      imagePullSecrets: [{name: regcred}]
      tolerations: [{key: dedicated, operator: Equal, value: ml, effect: NoSchedule}]
      containers:
        - name: not-this
          image: not/this
          env: [{name: FROM_CONFIG, value: config}, {name: SHARED, value: config}]
          resources: {requests: {cpu: "99"}, limits: {memory: 3Gi}}
`;

function config(extra = ''): void {
  writeFileSync(
    process.env.SKYRUN_CONFIG!,
    `kubernetes:\n  allowed_contexts: [skyrun-p]\n  provision_timeout: 2\n${extra}`,
  );
}

const resources = (r: Partial<Resources> = {}): Resources => ({
  infra: {},
  useSpot: false,
  ports: [],
  labels: {},
  ...r,
});

async function cpuOffer(): Promise<Offer> {
  const [offer] = await new KubernetesProvider().offers(resources(), 1, 0);
  expect(offer).toBeDefined();
  return offer!;
}

function request(clusterName: string, offer: Offer, more: Partial<ProvisionRequest> = {}): ProvisionRequest {
  return { clusterName, offer, offerKey: `wf/${clusterName}#0`, labels: { 'skyrun.dev/user': 'u1' }, ...more };
}

async function pods(name: string): Promise<V1Pod[]> {
  return (
    await cluster.core('skyrun-p').listNamespacedPod({ namespace: NS, labelSelector: `skyrun.dev/cluster=${name}` })
  ).items;
}

beforeAll(async () => {
  cluster = await startKubeCluster({ contexts: [{ name: 'skyrun-p', namespace: NS }] });
  await cluster.addNode({ name: 'cpu-node', cpus: 8, memoryGiB: 32 });
  home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-k8s-pods-'));
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

test('pod_config from config.yaml and the task merge into the pod; SkyRun name, labels, image and requests win', async () => {
  config(POD_CONFIG);
  try {
    const p = new KubernetesProvider();
    const offer = await cpuOffer();
    const taskPodConfig = {
      metadata: { annotations: { 'example.com/task': 'yes' } },
      spec: {
        tolerations: [{ key: 'spot', operator: 'Exists' }],
        containers: [
          {
            env: [
              { name: 'SHARED', value: 'task' },
              { name: 'FROM_TASK', value: 'task' },
            ],
          },
        ],
      },
    };
    const handle = await p.provision(request('pc', offer, { kubernetes: { podConfig: taskPodConfig } }), ctx);
    expect(handle.nodes.map((n) => n.instanceId)).toEqual([podName('pc', 0)]);
    const [pod] = await pods('pc');
    expect(pod?.status?.phase).toBe('Running');
    expect(pod!.metadata!.name).toBe('pc-head');
    expect(pod!.metadata!.labels).toMatchObject({ team: 'ml', 'skyrun.dev/cluster': 'pc', 'skyrun.dev/user': 'u1' });
    expect(pod!.metadata!.annotations).toMatchObject({ 'example.com/owner': 'alice', 'example.com/task': 'yes' });
    expect(pod!.spec!.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    // config's, then the task's: both lists appended (SkyPilot's merge)
    expect(pod!.spec!.tolerations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'dedicated', operator: 'Equal', value: 'ml', effect: 'NoSchedule' }),
        expect.objectContaining({ key: 'spot', operator: 'Exists' }),
      ]),
    );
    const [c] = pod!.spec!.containers;
    expect(pod!.spec!.containers).toHaveLength(1);
    expect(c!.name).toBe('skyrun');
    expect(c!.image).toBe('ubuntu:22.04');
    expect(c!.env).toEqual([
      { name: 'FROM_CONFIG', value: 'config' },
      { name: 'SHARED', value: 'task' },
      { name: 'FROM_TASK', value: 'task' },
    ]);
    expect(c!.resources!.requests).toEqual({
      cpu: offer.instanceType.split('CPU')[0],
      memory: expect.stringMatching(/Gi$/),
    });
    expect(c!.resources!.limits).toEqual({ memory: '3Gi' });
    await p.terminate('pc');
    expect(await pods('pc')).toEqual([]);
  } finally {
    config();
  }
}, 120_000);

test('a malformed pod_config is a config error naming the field, and check says so', async () => {
  config('  pod_config:\n    spec:\n      tolerations: {key: x}\n');
  try {
    const err = await new KubernetesProvider().offers(resources(), 1, 0).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).errorClass).toBe('config');
    expect((err as Error).message).toMatch(
      /config\.yaml: kubernetes\.pod_config\.spec\.tolerations: expected a list of mappings/,
    );
    const check = await new KubernetesProvider().check();
    expect(check.enabled).toBe(false);
    expect(check.reason).toMatch(/kubernetes\.pod_config\.spec\.tolerations: expected a list of mappings/);
  } finally {
    config();
  }
});

test('task volumes mount an existing PersistentVolumeClaim at its path in every pod', async () => {
  const core = cluster.core('skyrun-p');
  // no controller-manager here: bind the claim by hand, as the PV controller would
  await core.createPersistentVolume({
    body: {
      metadata: { name: 'data-pv' },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteMany'],
        hostPath: { path: '/tmp/skyrun-data-pv' },
        claimRef: { namespace: NS, name: 'data' },
        storageClassName: '',
      },
    },
  });
  await core.createNamespacedPersistentVolumeClaim({
    namespace: NS,
    body: {
      metadata: { name: 'data', annotations: { 'pv.kubernetes.io/bind-completed': 'yes' } },
      spec: {
        accessModes: ['ReadWriteMany'],
        resources: { requests: { storage: '1Gi' } },
        volumeName: 'data-pv',
        storageClassName: '',
      },
    },
  });
  const p = new KubernetesProvider();
  const offer = { ...(await cpuOffer()), numNodes: 2 };
  const volumes = { '/mnt/data': 'data' };
  await p.provision(request('vol', offer, { kubernetes: { volumes } }), ctx);
  const made = await pods('vol');
  expect(made.map((x) => x.metadata?.name).sort()).toEqual(['vol-head', 'vol-worker-1']);
  for (const pod of made) {
    expect(pod.status?.phase).toBe('Running');
    expect(pod.spec!.volumes).toEqual(
      expect.arrayContaining([{ name: 'skyrun-vol-0', persistentVolumeClaim: { claimName: 'data' } }]),
    );
    expect(pod.spec!.containers[0]!.volumeMounts).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'skyrun-vol-0', mountPath: '/mnt/data' })]),
    );
  }
  await p.terminate('vol');
  expect(await pods('vol')).toEqual([]);
}, 120_000);

test('a volume whose claim does not exist is invalid, naming claim and namespace, with no pod created', async () => {
  const p = new KubernetesProvider();
  const offer = await cpuOffer();
  const started = Date.now();
  const err = await p
    .provision(request('nopvc', offer, { kubernetes: { volumes: { '/mnt/x': 'no-such-claim' } } }), ctx)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(ProviderError);
  expect((err as ProviderError).errorClass).toBe('invalid');
  expect((err as Error).message).toMatch(
    /volumes: \/mnt\/x: no PersistentVolumeClaim 'no-such-claim' in namespace ns-p of kubernetes context skyrun-p/,
  );
  expect(Date.now() - started).toBeLessThan(2_000); // before the provision timeout: no pod waited
  expect(await pods('nopvc')).toEqual([]);
});

test('volumes: refused on other infra by the launch checks; without infra the optimizer offers kubernetes only', async () => {
  const local = parseTask('resources:\n  infra: local\nrun: echo\nvolumes:\n  /data: data\n', 'v.yaml');
  const issues = checkLaunchable(local, {});
  expect(issues.map((i) => [i.file, i.line, i.field])).toEqual([['v.yaml', 4, 'volumes']]);
  expect(issues[0]!.message).toMatch(/Kubernetes only; this task asks for local infra\. Use infra: k8s/);

  const any = parseTask('run: echo\nvolumes:\n  /data: data\n', 'v.yaml');
  expect(checkLaunchable(any, {})).toEqual([]);
  const providers = [new LocalProvider(), new KubernetesProvider()];
  const { offers, enabled } = await optimize(
    { candidates: any.candidates, ordered: false, numNodes: 1 },
    { providers },
  );
  expect(enabled).toEqual(['local', 'kubernetes']);
  expect(offers.length).toBeGreaterThan(0);
  expect(new Set(offers.map((o) => o.cloud))).toEqual(new Set(['kubernetes']));
  const plain = parseTask('run: echo\n', 'p.yaml').candidates;
  const all = await optimize({ candidates: plain, ordered: false, numNodes: 1 }, { providers });
  expect(all.offers.some((o) => o.cloud === 'local')).toBe(true);
}, 60_000);
