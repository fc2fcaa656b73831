/**
 * kwok's side of the test Kubernetes control plane (test/helpers/kube.ts): its stages with the
 * pod-ready stage gated on the harness's annotation, its Exec and PortForward CRDs, and the pod
 * watcher that gives every pod its host folder, Exec and PortForward before it may become Running
 * (and takes them away, with the processes its execs left, when the pod is deleted).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  type Informer,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { killMarked } from './kube-procs';
import { sleep } from './skyrun';

export const EXEC_READY = 'skyrun.test/exec-ready';
const KWOK = { group: 'kwok.x-k8s.io', version: 'v1alpha1' };

/**
 * Images whose pods fail the way a kubelet makes them fail (kwok pulls nothing):
 * `skyrun-test/missing...` cannot be pulled (the container waits in ErrImagePull, then
 * ImagePullBackOff, the pod stays Pending, as containerd reports an image that is not in the
 * registry); `skyrun-test/no-shell...` has no /bin/sh, so the container cannot start (terminated
 * StartError, exit 128; the pod Failed, since the provider's pods never restart).
 */
export const FAILING_IMAGES = { missing: 'skyrun-test/missing', noShell: 'skyrun-test/no-shell' } as const;
const failingImage = (prefix: string) => `[.spec.containers.[].image | startswith("${prefix}")] | any`;

const pending = [
  { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
  { key: '.status.phase', operator: 'In', values: ['Pending'] },
];
const waitingReason = '.status.containerStatuses.[].state.waiting.reason';

function failingStage(name: string, match: object[], template: string, delayMs?: number): object {
  return {
    apiVersion: `${KWOK.group}/${KWOK.version}`,
    kind: 'Stage',
    metadata: { name },
    spec: {
      resourceRef: { apiGroup: 'v1', kind: 'Pod' },
      selector: { matchExpressions: [...pending, ...match] },
      ...(delayMs ? { delay: { durationMilliseconds: delayMs } } : {}),
      next: { statusTemplate: template },
    },
  };
}

const notReady = `
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  reason: ContainersNotReady
  type: Ready
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
startTime: {{ $now | Quote }}
`;

/** The kubelet's way of failing pods of FAILING_IMAGES, as kwok stages. */
function failureStages(): object[] {
  const pullFailed = (reason: string, message: string) => `${notReady}
phase: Pending
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    waiting:
      reason: ${reason}
      message: ${message}
{{ end }}
`;
  const missing = { key: failingImage(FAILING_IMAGES.missing), operator: 'In', values: ['true'] };
  return [
    failingStage(
      'skyrun-test-image-pull-failed',
      [missing, { key: waitingReason, operator: 'NotIn', values: ['ErrImagePull', 'ImagePullBackOff'] }],
      pullFailed(
        'ErrImagePull',
        `{{ printf "rpc error: code = NotFound desc = failed to pull and unpack image \\"docker.io/%s\\": failed to resolve reference \\"docker.io/%s\\": docker.io/%s: not found" .image .image .image | Quote }}`,
      ),
    ),
    failingStage(
      'skyrun-test-image-pull-backoff',
      [missing, { key: waitingReason, operator: 'In', values: ['ErrImagePull'] }],
      pullFailed('ImagePullBackOff', `{{ printf "Back-off pulling image \\"%s\\"" .image | Quote }}`),
      1000,
    ),
    failingStage(
      'skyrun-test-start-error',
      [{ key: failingImage(FAILING_IMAGES.noShell), operator: 'In', values: ['true'] }],
      `${notReady}
phase: Failed
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: 128
      reason: StartError
      message: "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \\"/bin/sh\\": stat /bin/sh: no such file or directory: unknown"
      startedAt: "1970-01-01T00:00:00Z"
      finishedAt: {{ Now | Quote }}
{{ end }}
`,
    ),
  ];
}

/**
 * kwok's stages, with pod-ready waiting for the harness's exec-ready annotation and never taking
 * pods of FAILING_IMAGES, and the stages that fail those.
 */
export function gatedStages(binDir: string): string {
  const docs = parseAllDocuments(readFileSync(path.join(binDir, 'kwok-stages.yaml'), 'utf8'))
    .map((d) => d.toJS() as { metadata?: { name?: string }; spec?: { selector?: { matchExpressions?: unknown[] } } })
    .filter((d) => d);
  const ready = docs.find((d) => d.metadata?.name === 'pod-ready');
  if (!ready?.spec?.selector?.matchExpressions) throw new Error('kwok-stages.yaml has no pod-ready stage');
  ready.spec.selector.matchExpressions.push(
    { key: `.metadata.annotations["${EXEC_READY}"]`, operator: 'In', values: ['true'] },
    ...Object.values(FAILING_IMAGES).map((prefix) => ({
      key: failingImage(prefix),
      operator: 'NotIn',
      values: ['true'],
    })),
  );
  return [...docs, ...failureStages()].map((d) => stringify(d)).join('---\n');
}

/** Applies kwok's Exec and PortForward CRDs and waits until both are served. */
export async function applyKwokCrds(kc: KubeConfig, bin: string): Promise<void> {
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

/**
 * The first write of a new custom resource takes about 2 s (before that, lists answer 429
 * "storage is (re)initializing"): write and delete one Exec and one PortForward now, while the
 * other pieces start, so the first pod's exec set-up does not wait.
 */
export async function warmKwokResources(kc: KubeConfig): Promise<void> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const name = 'skyrun-harness-warm-up';
  const body = (kind: string, spec: object) => ({
    apiVersion: `${KWOK.group}/${KWOK.version}`,
    kind,
    metadata: { name },
    spec,
  });
  const one = async (plural: string, kind: string, spec: object) => {
    await custom.createNamespacedCustomObject({ ...KWOK, namespace: 'default', plural, body: body(kind, spec) });
    await custom.deleteNamespacedCustomObject({ ...KWOK, namespace: 'default', plural, name });
  };
  await Promise.all([
    one('execs', 'Exec', { execs: [{ local: { workDir: '/nonexistent' } }] }),
    one('portforwards', 'PortForward', { forwards: [{ ports: [1], target: { port: 1, address: '127.0.0.1' } }] }),
  ]);
}

const code = (e: unknown) => (e as { code?: number }).code;
export const ignore =
  (...codes: number[]) =>
  (e: unknown) => {
    if (!codes.includes(code(e) ?? 0)) throw e;
  };

/**
 * Watches every pod: a new one gets its folder, Exec, PortForward and then the exec-ready
 * annotation; a deleted one loses its processes, objects and folder. Work for one pod runs in
 * event order (a delete then a re-create of the same name cannot interleave).
 */
export class PodExecs {
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
