/**
 * A real Kubernetes control plane for tests, on 127.0.0.1 only, free ports, everything in a temp
 * folder: etcd, kube-apiserver (token auth, RBAC, TLS from a throwaway CA), kube-scheduler (so
 * Pending pods and FailedScheduling events are real) and kwok's controller (fake nodes with the
 * capacity and labels a test gives, its stages making scheduled pods Running with a pod IP). No
 * controller-manager: no Deployments/Jobs/GC, namespaces never finish Terminating, and the
 * ServiceAccount and TaintNodesByCondition admission plugins are off. Binaries come from
 * scripts/kube-bins.sh (run by scripts/test-deps.ts); see kube-procs.ts.
 *
 * Exec into a pod runs the command ON THIS HOST, as kwok's user, in the pod's own folder
 * `podDir(namespace, pod)`, with HOME set to it (so `~/sky_workdir` differs per pod) and the
 * variables SKYRUN_KUBE_RUN/SKYRUN_KUBE_POD marking its processes. How: kwok runs with
 * `--enable-crds=Exec,PortForward`; the harness watches pods and, for each new one, makes the
 * folder and a kwok `Exec` object (same name and namespace as the pod, `local.workDir` = the
 * folder), then annotates the pod `skyrun.test/exec-ready: "true"`. kwok's pod-ready stage is
 * changed to require that annotation, so no pod becomes Running before its Exec exists: a runner
 * that waits for Running cannot exec too early. For each containerPort a pod declares, a kwok
 * `PortForward` sends port-forwards of that port to 127.0.0.1:<same port> on this host (two pods
 * serving the same port share it: a limit of the fakery). Deleting a pod kills the processes its
 * execs left, deletes its Exec/PortForward and removes its folder (a recreated pod starts empty).
 *
 * kwok v0.8.0 exec limits, for the runner's author:
 *   - a non-zero exit is not reported as an exit code: the websocket status is Failure, reason
 *     InternalError, code 500, message `... cmd wait: <cmd>: exit status N`. Print the code
 *     yourself (`...; echo "__rc=$?"`) when it matters.
 *   - stdin EOF is not passed on: `cat` reading the exec's stdin never ends. Send a known amount
 *     (`head -c N`, a length prefix) or a terminator instead.
 *   - processes started by an exec outlive the exec client (and kwok): stop() kills them all.
 *   - there is no container filesystem or image: `image` is only a label; commands see this host.
 * Fake pod and node IPs (10.0.0.0/24, 127.0.0.1 nodes) are labels: never connect to pod IPs.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type Informer,
  type V1Pod,
} from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { forContext } from '../../activities/infra/clouds/kubernetes/kubeconfig';
import { freePort, sleep } from './skyrun';
import {
  killMarked,
  killNow,
  kubeBinDir,
  launch,
  makePki,
  stopProc,
  waitHealthy,
  type Pki,
  type Proc,
} from './kube-procs';

export interface KubeNodeSpec {
  name: string;
  cpus: number;
  memoryGiB: number;
  /** e.g. {count: 8, label: 'nvidia.com/gpu.product', value: 'NVIDIA-L4'} */
  gpus?: { count: number; label: string; value: string };
  /** more node labels */
  labels?: Record<string, string>;
}

export interface KubeCluster {
  /** generated kubeconfig file (token auth, CA), server https://127.0.0.1:<free port> */
  kubeconfig: string;
  /** one context per namespace asked for; the first is current */
  contexts: string[];
  namespaceOf(context: string): string;
  /** temp run folder (logs/ holds each process's output) */
  root: string;
  /** the host folder where exec in that pod runs (cwd and HOME) */
  podDir(namespace: string, pod: string): string;
  core(context?: string): CoreV1Api;
  /** a kwok fake node, Ready before it resolves */
  addNode(spec: KubeNodeSpec): Promise<void>;
  /** stops everything it started, kills leftover exec'd processes, removes temp dirs */
  stop(): Promise<void>;
}

export const EXEC_READY = 'skyrun.test/exec-ready';
const KWOK = { group: 'kwok.x-k8s.io', version: 'v1alpha1' };

interface Ports {
  etcd: number;
  etcdPeer: number;
  api: number;
  scheduler: number;
  kwok: number;
}

async function freePorts(): Promise<Ports> {
  const seen = new Set<number>();
  const next = async () => {
    for (;;) {
      const p = await freePort();
      if (!seen.has(p)) return (seen.add(p), p);
    }
  };
  return { etcd: await next(), etcdPeer: await next(), api: await next(), scheduler: await next(), kwok: await next() };
}

function writeKubeconfig(
  file: string,
  server: string,
  pki: Pki,
  token: string,
  contexts: Array<{ name: string; namespace: string }>,
): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'skyrun-test',
        cluster: { server, 'certificate-authority-data': readFileSync(pki.caCrt).toString('base64') },
      },
    ],
    users: [{ name: 'skyrun-test-admin', user: { token } }],
    contexts: contexts.map((c) => ({
      name: c.name,
      context: { cluster: 'skyrun-test', user: 'skyrun-test-admin', namespace: c.namespace },
    })),
    'current-context': contexts[0]!.name,
  };
  writeFileSync(file, stringify(config), { mode: 0o600 });
}

/** kwok's stages, with pod-ready waiting for the harness's exec-ready annotation. */
function gatedStages(binDir: string): string {
  const docs = parseAllDocuments(readFileSync(path.join(binDir, 'kwok-stages.yaml'), 'utf8'))
    .map((d) => d.toJS() as { metadata?: { name?: string }; spec?: { selector?: { matchExpressions?: unknown[] } } })
    .filter((d) => d);
  const ready = docs.find((d) => d.metadata?.name === 'pod-ready');
  if (!ready?.spec?.selector?.matchExpressions) throw new Error('kwok-stages.yaml has no pod-ready stage');
  ready.spec.selector.matchExpressions.push({
    key: `.metadata.annotations["${EXEC_READY}"]`,
    operator: 'In',
    values: ['true'],
  });
  return docs.map((d) => stringify(d)).join('---\n');
}

function startEtcdAndApiserver(bin: string, root: string, pki: Pki, ports: Ports, logs: string): Proc[] {
  const etcd = launch(
    'etcd',
    path.join(bin, 'etcd'),
    [
      '--name=node0',
      `--data-dir=${path.join(root, 'etcd-data')}`,
      `--listen-client-urls=http://127.0.0.1:${ports.etcd}`,
      `--advertise-client-urls=http://127.0.0.1:${ports.etcd}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=node0=http://127.0.0.1:${ports.etcdPeer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    logs,
  );
  const apiserver = launch(
    'kube-apiserver',
    path.join(bin, 'kube-apiserver'),
    [
      `--etcd-servers=http://127.0.0.1:${ports.etcd}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${ports.api}`,
      '--endpoint-reconciler-type=none',
      `--cert-dir=${path.join(root, 'apiserver-certs')}`,
      `--tls-cert-file=${pki.serverCrt}`,
      `--tls-private-key-file=${pki.serverKey}`,
      `--client-ca-file=${pki.caCrt}`,
      `--token-auth-file=${path.join(root, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      `--kubelet-certificate-authority=${pki.caCrt}`,
      '--allow-privileged=true',
      '--profiling=false',
      '--disable-admission-plugins=ServiceAccount,TaintNodesByCondition',
    ],
    logs,
  );
  return [etcd, apiserver];
}

function startScheduler(bin: string, root: string, kc: string, ports: Ports, logs: string): Proc {
  return launch(
    'kube-scheduler',
    path.join(bin, 'kube-scheduler'),
    [
      `--kubeconfig=${kc}`,
      `--authentication-kubeconfig=${kc}`,
      `--authorization-kubeconfig=${kc}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.scheduler}`,
      `--cert-dir=${path.join(root, 'scheduler-certs')}`,
      '--leader-elect=false',
    ],
    logs,
  );
}

function startKwok(bin: string, root: string, kc: string, pki: Pki, ports: Ports, logs: string): Proc {
  const config = path.join(root, 'kwok.yaml');
  writeFileSync(config, gatedStages(bin));
  return launch(
    'kwok',
    path.join(bin, 'kwok'),
    [
      `--kubeconfig=${kc}`,
      `--config=${config}`,
      '--enable-crds=Exec,PortForward',
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--node-ip=127.0.0.1',
      `--node-port=${ports.kwok}`,
      `--server-address=127.0.0.1:${ports.kwok}`,
      '--node-lease-duration-seconds=40',
      `--tls-cert-file=${pki.serverCrt}`,
      `--tls-private-key-file=${pki.serverKey}`,
    ],
    logs,
  );
}

/** Applies kwok's Exec and PortForward CRDs and waits until both are served. */
async function applyKwokCrds(kc: KubeConfig, bin: string): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const names: string[] = [];
  for (const f of ['kwok-crd-exec.yaml', 'kwok-crd-portforward.yaml']) {
    const body = parse(readFileSync(path.join(bin, f), 'utf8'));
    names.push(body.metadata.name);
    await ext.createCustomResourceDefinition({ body });
  }
  const deadline = Date.now() + 15_000;
  for (const name of names) {
    for (;;) {
      const crd = await ext.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not established`);
      await sleep(50);
    }
  }
}

const code = (e: unknown) => (e as { code?: number }).code;
const ignore =
  (...codes: number[]) =>
  (e: unknown) => {
    if (!codes.includes(code(e) ?? 0)) throw e;
  };

/**
 * Watches every pod: a new one gets its folder, Exec, PortForward and then the exec-ready
 * annotation; a deleted one loses its processes, objects and folder. Work for one pod runs in
 * event order (a delete then a re-create of the same name cannot interleave).
 */
class PodExecs {
  private informer?: Informer<V1Pod>;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly ready = new Set<string>();
  private stopped = false;
  errors: string[] = [];

  constructor(
    private readonly kc: KubeConfig,
    private readonly root: string,
    readonly podDir: (ns: string, pod: string) => string,
  ) {}

  async start(): Promise<void> {
    const core = this.kc.makeApiClient(CoreV1Api);
    this.informer = makeInformer(this.kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
    const onPod = (pod: V1Pod) => {
      const uid = pod.metadata?.uid ?? '';
      if (pod.metadata?.deletionTimestamp || pod.metadata?.annotations?.[EXEC_READY] || this.ready.has(uid)) return;
      this.ready.add(uid);
      this.enqueue(pod, () => this.prepare(pod));
    };
    this.informer.on('add', onPod);
    this.informer.on('update', onPod);
    this.informer.on('delete', (pod) => this.enqueue(pod, () => this.remove(pod)));
    this.informer.on('error', () => {
      if (!this.stopped) setTimeout(() => void this.informer?.start().catch(() => undefined), 200);
    });
    await this.informer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer?.stop();
    await Promise.all(this.chains.values());
  }

  private enqueue(pod: V1Pod, work: () => Promise<void>): void {
    const key = `${pod.metadata!.namespace}/${pod.metadata!.name}`;
    const next = (this.chains.get(key) ?? Promise.resolve())
      .then(work)
      .catch((e: Error) => void this.errors.push(`${key}: ${e.message}`));
    this.chains.set(key, next);
  }

  private async prepare(pod: V1Pod): Promise<void> {
    const { name, namespace } = pod.metadata as { name: string; namespace: string };
    const dir = this.podDir(namespace, name);
    mkdirSync(dir, { recursive: true });
    const custom = this.kc.makeApiClient(CustomObjectsApi);
    const envs = [
      { name: 'HOME', value: dir },
      { name: 'SKYRUN_KUBE_RUN', value: this.root },
      { name: 'SKYRUN_KUBE_POD', value: `${namespace}/${name}` },
    ];
    const exec = { apiVersion: `${KWOK.group}/${KWOK.version}`, kind: 'Exec', metadata: { name, namespace } };
    await custom
      .createNamespacedCustomObject({
        ...KWOK,
        namespace,
        plural: 'execs',
        body: { ...exec, spec: { execs: [{ local: { workDir: dir, envs } }] } },
      })
      .catch(ignore(409));
    const ports = [
      ...new Set((pod.spec?.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.containerPort))),
    ];
    if (ports.length > 0) {
      const forwards = ports.map((p) => ({ ports: [p], target: { port: p, address: '127.0.0.1' } }));
      await custom
        .createNamespacedCustomObject({
          ...KWOK,
          namespace,
          plural: 'portforwards',
          body: { ...exec, kind: 'PortForward', spec: { forwards } },
        })
        .catch(ignore(409));
    }
    const core = this.kc.makeApiClient(CoreV1Api);
    await core
      .patchNamespacedPod(
        { name, namespace, body: { metadata: { annotations: { [EXEC_READY]: 'true' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch(ignore(404));
  }

  private async remove(pod: V1Pod): Promise<void> {
    const { name, namespace } = pod.metadata as { name: string; namespace: string };
    this.ready.delete(pod.metadata?.uid ?? '');
    await killMarked(`SKYRUN_KUBE_POD=${namespace}/${name}`).catch(() => undefined);
    const custom = this.kc.makeApiClient(CustomObjectsApi);
    for (const plural of ['execs', 'portforwards']) {
      await custom.deleteNamespacedCustomObject({ ...KWOK, namespace, plural, name }).catch(ignore(404));
    }
    rmSync(this.podDir(namespace, name), { recursive: true, force: true });
  }
}

/** Starts the control plane; `contexts` default to one, `skyrun-test` on namespace `skyrun-test`. */
export async function startKubeCluster(
  opts: { contexts?: Array<{ name: string; namespace: string }> } = {},
): Promise<KubeCluster> {
  const bin = kubeBinDir();
  const wanted = opts.contexts?.length ? opts.contexts : [{ name: 'skyrun-test', namespace: 'skyrun-test' }];
  const root = mkdtempSync(path.join(os.tmpdir(), 'skyrun-kube-'));
  const logs = path.join(root, 'logs');
  mkdirSync(logs);
  const procs: Proc[] = [];
  const onExit = () => killNow(procs);
  process.once('exit', onExit);
  let watcher: PodExecs | undefined;

  const stop = async () => {
    process.off('exit', onExit);
    await watcher?.stop().catch(() => undefined);
    if (watcher?.errors.length)
      process.stderr.write(`kube harness: pod exec set-up failed: ${watcher.errors.join('; ')}\n`);
    const kwok = procs.find((p) => p.name === 'kwok');
    const marker = `SKYRUN_KUBE_RUN=${root}`;
    await killMarked(marker, kwok?.child.pid ? [kwok.child.pid] : []);
    for (const p of [...procs].reverse()) await stopProc(p);
    await killMarked(marker);
    rmSync(root, { recursive: true, force: true });
  };

  try {
    const pki = makePki(root);
    const ports = await freePorts();
    const token = randomBytes(24).toString('hex');
    writeFileSync(path.join(root, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
    const kubeconfig = path.join(root, 'kubeconfig');
    writeKubeconfig(kubeconfig, `https://127.0.0.1:${ports.api}`, pki, token, wanted);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);

    const [etcd, apiserver] = startEtcdAndApiserver(bin, root, pki, ports, logs);
    procs.push(etcd!, apiserver!);
    await waitHealthy(`https://127.0.0.1:${ports.api}/readyz`, apiserver!, { ca: pki.caCrt });
    procs.push(startScheduler(bin, root, kubeconfig, ports, logs));
    const core = kc.makeApiClient(CoreV1Api);
    await Promise.all([
      applyKwokCrds(kc, bin),
      ...[...new Set(wanted.map((c) => c.namespace))].map((ns) =>
        core.createNamespace({ body: { metadata: { name: ns } } }).catch(ignore(409)),
      ),
    ]);
    const podDir = (ns: string, pod: string) => path.join(root, 'pods', ns, pod);
    watcher = new PodExecs(kc, root, podDir);
    await watcher.start();
    const kwok = startKwok(bin, root, kubeconfig, pki, ports, logs);
    procs.push(kwok);
    await waitHealthy(`https://127.0.0.1:${ports.scheduler}/healthz`, procs[2]!);
    await waitHealthy(`http://127.0.0.1:${ports.kwok}/healthz`, kwok);

    const namespaces = new Map(wanted.map((c) => [c.name, c.namespace]));
    return {
      kubeconfig,
      contexts: wanted.map((c) => c.name),
      root,
      podDir,
      namespaceOf(context: string) {
        const ns = namespaces.get(context);
        if (ns === undefined) throw new Error(`no context ${context} in this cluster`);
        return ns;
      },
      core: (context?: string) => forContext(kc, context ?? wanted[0]!.name).makeApiClient(CoreV1Api),
      addNode: (spec: KubeNodeSpec) => addNode(core, spec),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function addNode(core: CoreV1Api, spec: KubeNodeSpec): Promise<void> {
  const resources: Record<string, string> = { cpu: String(spec.cpus), memory: `${spec.memoryGiB}Gi`, pods: '110' };
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': spec.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    type: 'kwok',
    ...spec.labels,
  };
  if (spec.gpus) {
    resources['nvidia.com/gpu'] = String(spec.gpus.count);
    labels[spec.gpus.label] = spec.gpus.value;
  }
  await core.createNode({
    body: {
      metadata: { name: spec.name, labels, annotations: { 'kwok.x-k8s.io/node': 'fake' } },
      status: { allocatable: resources, capacity: resources },
    },
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const node = await core.readNode({ name: spec.name });
    if (node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return;
    if (Date.now() > deadline) throw new Error(`node ${spec.name} not Ready within 20 s`);
    await sleep(50);
  }
}
