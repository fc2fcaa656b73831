/**
 * A real Kubernetes control plane for tests, on 127.0.0.1 only, free ports, everything in a temp
 * folder: etcd, kube-apiserver (token auth, RBAC, TLS from a throwaway CA), kube-scheduler (so
 * Pending pods and FailedScheduling events are real) and kwok's controller (fake nodes with the
 * capacity and labels a test gives, its stages making scheduled pods Running with a pod IP). No
 * controller-manager: no Deployments/Jobs/GC, namespaces never finish Terminating, and the
 * ServiceAccount and TaintNodesByCondition admission plugins are off. Binaries come from
 * scripts/kube-bins.sh (run by scripts/test-deps.ts); processes and PKI: kube-procs.ts; kwok's
 * stages, CRDs and the per-pod exec set-up: kube-kwok.ts.
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
 *   - there is no container filesystem or image: `image` is only a label; commands see this host,
 *     with only PATH, LANG=C.UTF-8, HOME and the two markers in their environment (no USER, SHELL).
 * In jest, @kubernetes/client-node (ESM only) is compiled to CommonJS by scripts/jest-esm-transform.cjs
 * (package.json transform): import it as usual, in tests and in the code they load.
 * Fake pod and node IPs (10.0.0.0/24, 127.0.0.1 nodes) are labels: never connect to pod IPs.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { forContext } from '../../activities/infra/clouds/kubernetes/kubeconfig';
import { applyKwokCrds, gatedStages, ignore, PodExecs, warmKwokResources } from './kube-kwok';
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
import { freePort, sleep } from './skyrun';

export { EXEC_READY, FAILING_IMAGES } from './kube-kwok';

export interface KubeNodeSpec {
  name: string;
  cpus: number;
  memoryGiB: number;
  /** e.g. {count: 8, label: 'nvidia.com/gpu.product', value: 'NVIDIA-L4'} */
  gpus?: { count: number; label: string; value: string };
  /** more node labels */
  labels?: Record<string, string>;
}

/** The nodes most tests use: one with 8 L4s (NVIDIA GPU feature discovery's label), one with CPUs only. */
export const L4_NODE: KubeNodeSpec = {
  name: 'gpu-node',
  cpus: 32,
  memoryGiB: 256,
  gpus: { count: 8, label: 'nvidia.com/gpu.product', value: 'NVIDIA-L4' },
};
export const CPU_NODE: KubeNodeSpec = { name: 'cpu-node', cpus: 8, memoryGiB: 32 };

/** A context of the generated kubeconfig; `user` one of the cluster's `users` (default: the admin). */
export interface KubeContextSpec {
  name: string;
  namespace: string;
  user?: string;
}

export interface KubeCluster {
  /** generated kubeconfig file (token auth, CA), server https://127.0.0.1:<free port> */
  kubeconfig: string;
  /** the API server's URL, https://127.0.0.1:<port> */
  server: string;
  /** the CA certificate file that signed the API server's certificate */
  caFile: string;
  /** the bearer token of `user` (default: the admin, in group system:masters) */
  tokenOf(user?: string): string;
  /** lets `user` do in `namespace` what a SkyRun launch does there (pods, exec, services, events), nothing more */
  grantNamespace(user: string, namespace: string): Promise<void>;
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
  tokens: Map<string, string>,
  contexts: KubeContextSpec[],
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
    users: [...tokens].map(([name, token]) => ({ name: `skyrun-test-${name}`, user: { token } })),
    contexts: contexts.map((c) => ({
      name: c.name,
      context: { cluster: 'skyrun-test', user: `skyrun-test-${c.user ?? ADMIN}`, namespace: c.namespace },
    })),
    'current-context': contexts[0]!.name,
  };
  writeFileSync(file, stringify(config), { mode: 0o600 });
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

const ADMIN = 'admin';

/**
 * Starts the control plane; `contexts` default to one, `skyrun-test` on namespace `skyrun-test`.
 * `users`: more token users (no groups, so RBAC grants them nothing until grantNamespace).
 */
export async function startKubeCluster(
  opts: { contexts?: KubeContextSpec[]; users?: string[] } = {},
): Promise<KubeCluster> {
  const bin = kubeBinDir();
  const wanted = opts.contexts?.length ? opts.contexts : [{ name: 'skyrun-test', namespace: 'skyrun-test' }];
  const root = mkdtempSync(path.join(os.tmpdir(), 'skyrun-kube-'));
  const logs = path.join(root, 'logs');
  mkdirSync(logs);
  const procs: Proc[] = [];
  const onExit = () => (killNow(procs), rmSync(root, { recursive: true, force: true }));
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
    const tokens = new Map([ADMIN, ...(opts.users ?? [])].map((u) => [u, randomBytes(24).toString('hex')]));
    const lines = [...tokens].map(([u, t]) => `${t},${u},${u}-uid${u === ADMIN ? ',"system:masters"' : ''}\n`);
    writeFileSync(path.join(root, 'tokens.csv'), lines.join(''), { mode: 0o600 });
    const kubeconfig = path.join(root, 'kubeconfig');
    const server = `https://127.0.0.1:${ports.api}`;
    writeKubeconfig(kubeconfig, server, pki, tokens, wanted);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);

    const [etcd, apiserver] = startEtcdAndApiserver(bin, root, pki, ports, logs);
    // the scheduler waits for the apiserver by itself: start it now rather than after readyz
    procs.push(etcd!, apiserver!, startScheduler(bin, root, kubeconfig, ports, logs));
    // a bounded wait, not a timing assertion: the first start after a build, with another test
    // file starting its own control plane, has taken over 30 s on 2 cores
    await waitHealthy(`https://127.0.0.1:${ports.api}/readyz`, apiserver!, { ca: pki.caCrt, timeoutMs: 120_000 });
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
    await Promise.all([
      warmKwokResources(kc),
      waitHealthy(`https://127.0.0.1:${ports.scheduler}/healthz`, procs[2]!),
      waitHealthy(`http://127.0.0.1:${ports.kwok}/healthz`, kwok),
    ]);

    const namespaces = new Map(wanted.map((c) => [c.name, c.namespace]));
    return {
      kubeconfig,
      server,
      caFile: pki.caCrt,
      tokenOf(user = ADMIN) {
        const t = tokens.get(user);
        if (!t) throw new Error(`no user ${user} in this cluster`);
        return t;
      },
      grantNamespace: (user: string, namespace: string) => grantNamespace(kc, user, namespace),
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

async function grantNamespace(kc: KubeConfig, user: string, namespace: string): Promise<void> {
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const name = `skyrun-test-${user}`;
  const all = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name },
      rules: [
        { apiGroups: [''], resources: ['pods', 'services'], verbs: all },
        { apiGroups: [''], resources: ['pods/exec', 'pods/portforward'], verbs: ['get', 'create'] },
        { apiGroups: [''], resources: ['pods/log', 'events'], verbs: ['get', 'list', 'watch'] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
    },
  });
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
