/**
 * What an operator deploys (deploy/): the Kubernetes manifests are accepted by a real API server
 * with strict field validation (an unknown or misspelt field fails), and the workers' service
 * account may do what a `k8s` launch does and nothing more (checked by the API server's own RBAC
 * authorizer); the systemd unit passes `systemd-analyze verify` without a warning; and a worker
 * answers its liveness endpoint while it polls.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { healthAddress } from '../worker/health';
import { findTemporalCli } from '../worker/runtime/temporal-cli';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/contract';
import { startKubeCluster, type KubeCluster } from './helpers/kube';
import { REPO, SkyrunEnv, eventually, freePort } from './helpers/skyrun';

const DEPLOY = path.join(REPO, 'deploy');
const NS = 'skyrun';

/** Where each kind the manifests use is created, by the API's REST paths. */
const ROUTES: Record<string, (ns: string) => string> = {
  ServiceAccount: (ns) => `/api/v1/namespaces/${ns}/serviceaccounts`,
  ConfigMap: (ns) => `/api/v1/namespaces/${ns}/configmaps`,
  Secret: (ns) => `/api/v1/namespaces/${ns}/secrets`,
  Role: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
  RoleBinding: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
  ClusterRole: () => `/apis/rbac.authorization.k8s.io/v1/clusterroles`,
  ClusterRoleBinding: () => `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings`,
  Deployment: (ns) => `/apis/apps/v1/namespaces/${ns}/deployments`,
  PodDisruptionBudget: (ns) => `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets`,
};

let kube: KubeCluster;

beforeAll(async () => {
  kube = await startKubeCluster();
}, 180_000);

afterAll(async () => {
  await kube?.stop();
});

function api(method: string, route: string, body?: unknown): Promise<{ status: number; json: any }> {
  const url = new URL(route, kube.server);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        ca: readFileSync(kube.caFile),
        headers: { authorization: `Bearer ${kube.tokenOf()}`, 'content-type': 'application/json' },
      },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode!, json: data ? JSON.parse(data) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function manifests(file: string): any[] {
  return parseAllDocuments(readFileSync(path.join(DEPLOY, 'kubernetes', file), 'utf8')).map((d) => d.toJS());
}

async function create(obj: any): Promise<{ status: number; json: any }> {
  const route = ROUTES[obj.kind];
  if (!route) throw new Error(`no route for kind ${obj.kind}`);
  return api('POST', `${route(NS)}?fieldValidation=Strict`, obj);
}

test('the Kubernetes manifests pass strict validation on a real API server; the service account may do what a launch does', async () => {
  expect((await api('POST', '/api/v1/namespaces', { metadata: { name: NS } })).status).toBe(201);
  const objects = [...manifests('worker.yaml'), ...manifests('secret.example.yaml')];
  expect(objects.map((o) => o.kind).sort()).toEqual(
    [
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'Deployment',
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Secret',
      'ServiceAccount',
    ].sort(),
  );
  for (const o of objects) {
    const r = await create(o);
    expect({ kind: o.kind, status: r.status, message: r.json?.message }).toEqual({
      kind: o.kind,
      status: 201,
      message: undefined,
    });
  }
  // the SSH key is mounted private (0400), so SkyRun uses it as it is
  const deployment = objects.find((o) => o.kind === 'Deployment');
  expect(deployment.spec.template.spec.volumes.find((v: any) => v.name === 'keys').secret.defaultMode).toBe(0o400);
  // strictness is real: a misspelt field is refused
  const typo = manifests('worker.yaml').find((o) => o.kind === 'ConfigMap');
  typo.metadata.name = 'typo';
  typo.dataa = {};
  const refused = await create(typo);
  expect(refused.status).toBe(400);
  expect(refused.json.message).toContain('unknown field "dataa"');

  const sa = `system:serviceaccount:${NS}:skyrun-worker`;
  const can = async (verb: string, resource: string, opts: { subresource?: string; namespace?: string } = {}) => {
    const r = await api('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: sa,
        resourceAttributes: { verb, resource, namespace: opts.namespace, subresource: opts.subresource },
      },
    });
    return r.json.status.allowed === true;
  };
  // every call the kubernetes infra makes (activities/infra/clouds/kubernetes, runners/kube*)
  for (const [verb, resource, sub] of [
    ['create', 'pods'],
    ['delete', 'pods'],
    ['deletecollection', 'pods'],
    ['get', 'pods'],
    ['list', 'pods'],
    ['create', 'pods', 'exec'],
    ['get', 'pods', 'exec'],
    ['create', 'pods', 'portforward'],
    ['create', 'services'],
    ['delete', 'services'],
    ['list', 'events'],
    ['get', 'persistentvolumeclaims'],
  ] as const) {
    expect({ verb, resource, sub, allowed: await can(verb, resource, { subresource: sub, namespace: NS }) }).toEqual({
      verb,
      resource,
      sub,
      allowed: true,
    });
  }
  expect(await can('list', 'nodes')).toBe(true);
  expect(await can('list', 'pods')).toBe(true); // all namespaces: GPUs in use
  // and nothing more
  expect(await can('get', 'secrets', { namespace: NS })).toBe(false);
  expect(await can('create', 'pods', { namespace: 'kube-system' })).toBe(false);
  expect(await can('delete', 'nodes')).toBe(false);
  expect(await can('create', 'deployments', { namespace: NS })).toBe(false);
});

test('the systemd unit verifies without a warning', () => {
  const r = spawnSync('systemd-analyze', ['verify', path.join(DEPLOY, 'systemd', 'skyrun-worker@.service')], {
    encoding: 'utf8',
  });
  expect(r.error).toBeUndefined();
  expect(r.stderr.trim()).toBe('');
  expect(r.status).toBe(0);
});

test('a worker answers GET /healthz with 200 while it polls, nothing else; a bad address is refused', async () => {
  expect(healthAddress('0.0.0.0:8080')).toEqual({ host: '0.0.0.0', port: 8080 });
  expect(healthAddress('[::1]:9')).toEqual({ host: '::1', port: 9 });
  expect(healthAddress('8080')).toEqual({ host: '127.0.0.1', port: 8080 });
  expect(() => healthAddress('host:99999')).toThrow(/expected host:port/);

  const port = await freePort();
  const server = await TestWorkflowEnvironment.createLocal({
    server: {
      ip: '127.0.0.1',
      port,
      ui: false,
      executable: { type: 'existing-path', path: findTemporalCli()! },
      extraArgs: SEARCH_ATTRIBUTE_FLAGS.flatMap((sa) => ['--search-attribute', sa]),
    },
  });
  const sr = await SkyrunEnv.create('health');
  const healthPort = await freePort();
  const env = { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, SKYRUN_WORKER_HEALTH_ADDR: `127.0.0.1:${healthPort}` };
  const worker = sr.spawn(['worker'], { env });
  try {
    const get = (p: string) => fetch(`http://127.0.0.1:${healthPort}${p}`).catch(() => undefined);
    const ok = await eventually(async () => {
      const r = await get('/healthz');
      return r?.status === 200 ? r : undefined;
    });
    expect(await ok.json()).toEqual({ state: 'RUNNING' });
    expect((await get('/'))?.status).toBe(404);
    expect((await get('/workflows'))?.status).toBe(404);
    const bad = await sr.run(['worker'], { env: { ...env, SKYRUN_WORKER_HEALTH_ADDR: 'nowhere' } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      "SKYRUN_WORKER_HEALTH_ADDR: expected host:port (e.g. 0.0.0.0:8080) or a port, got 'nowhere'",
    );
  } finally {
    worker.kill('SIGTERM');
    expect((await worker.result).code).toBe(0);
    await server.teardown();
    await sr.dispose();
  }
});
