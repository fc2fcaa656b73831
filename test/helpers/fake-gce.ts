/**
 * A loopback Compute Engine: a small HTTP server speaking the REST/JSON shapes of compute v1
 * for the calls the gcp provider makes (instances insert/get/list/aggregatedList/delete/
 * start/stop, zoneOperations get/wait, firewalls insert/get/delete, globalOperations get/wait).
 * Instances live in memory: PROVISIONING on insert, RUNNING at the next read. Operations are
 * DONE at once. A repeated requestId returns the first operation and creates nothing. Faults are
 * injected per zone; every request is recorded so tests can assert what was sent.
 *
 * It says no where Compute Engine does (rules in ./fake-gce-rules.ts, each with its source):
 * boot disk types a machine series refuses, machine types a zone does not offer, service
 * accounts, zones an aggregated list cannot reach, OS Login (metadata keys ignored), SSH only
 * through a firewall rule, spot termination actions. It also answers as the GCE metadata server
 * (project id, a service account token) for `use_metadata_server`.
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { firewallAllows, insertRefusal, metadataServer, osLoginOn } from './fake-gce-rules';

export type GceFault =
  /** the insert operation ends with ZONE_RESOURCE_POOL_EXHAUSTED */
  | 'capacity'
  /** HTTP 403 QUOTA_EXCEEDED for a regional GPU metric */
  | 'quota-region'
  /** HTTP 403 QUOTA_EXCEEDED naming GPUS_ALL_REGIONS */
  | 'quota-cloud'
  /** HTTP 429 rateLimitExceeded */
  | 'rate'
  /** HTTP 403 PERMISSION_DENIED */
  | 'auth';

export interface RecordedRequest {
  method: string;
  /** path without the /compute/v1/projects/<project>/ prefix */
  path: string;
  query: Record<string, string>;
  body?: any;
}

export interface FakeInstance {
  kind: 'compute#instance';
  id: string;
  name: string;
  zone: string;
  machineType: string;
  status: string;
  labels: Record<string, string>;
  tags?: { items?: string[] };
  scheduling?: Record<string, unknown>;
  guestAccelerators?: Array<Record<string, unknown>>;
  metadata?: Record<string, unknown>;
  disks?: unknown[];
  serviceAccounts?: Array<{ email: string; scopes: string[] }>;
  networkInterfaces: Array<{
    network: string;
    networkIP: string;
    accessConfigs: Array<{ type: string; name: string; natIP: string }>;
  }>;
  creationTimestamp: string;
  lastStopTimestamp?: string;
  selfLink: string;
}

export interface FakeGce {
  url: string;
  project: string;
  requests: RecordedRequest[];
  /** zone name -> fault for inserts there */
  faults: Record<string, GceFault>;
  instances: Map<string, FakeInstance>;
  firewalls: Map<string, any>;
  /** zone -> the only machine types it offers (zones not listed offer every type) */
  zoneMachineTypes: Record<string, string[]>;
  /** zones an aggregated list cannot reach (and whose zonal calls answer 503) */
  unreachable: Set<string>;
  /** the project's common instance metadata (e.g. enable-oslogin) */
  projectMetadata: Record<string, string>;
  /** an organisation policy constraints/compute.requireOsLogin: OS Login on every instance */
  requireOsLogin: boolean;
  /** whether `name` would accept SkyRun's metadata SSH key (OS Login off for it) */
  sshKeysHonoured(name: string): boolean;
  /** whether a firewall rule lets tcp:22 from anywhere reach `name` */
  sshOpen(name: string): boolean;
  /** live (not deleted) instances, optionally of one cluster label */
  live(cluster?: string): FakeInstance[];
  inserts(): RecordedRequest[];
  /** a spot preemption: deleted (instanceTerminationAction DELETE) or TERMINATED with a lastStopTimestamp */
  preempt(name: string): void;
  stop(): Promise<void>;
}

const BASE = 'https://www.googleapis.com/compute/v1';

export async function startFakeGce(opts: { project?: string; natIP?: string } = {}): Promise<FakeGce> {
  const project = opts.project ?? 'test-project';
  const requests: RecordedRequest[] = [];
  const faults: Record<string, GceFault> = {};
  const instances = new Map<string, FakeInstance>(); // key zone/name
  const firewalls = new Map<string, any>();
  const operations = new Map<string, any>();
  const byRequestId = new Map<string, any>();
  const zoneMachineTypes: Record<string, string[]> = {};
  const unreachable = new Set<string>();
  const projectMetadata: Record<string, string> = {};
  const policy = { requireOsLogin: false };
  let seq = 0;
  const nextId = () => String(1_000_000_000_000 + ++seq);

  const op = (
    type: string,
    target: string,
    zone?: string,
    error?: { code: string; message: string },
    httpStatus?: number,
  ) => {
    const name = `operation-${Date.now()}-${randomUUID().slice(0, 8)}`;
    const o: any = {
      kind: 'compute#operation',
      id: nextId(),
      name,
      operationType: type,
      targetLink: target,
      status: 'DONE',
      progress: 100,
      insertTime: new Date().toISOString(),
      startTime: new Date().toISOString(),
      endTime: new Date().toISOString(),
      user: 'test@example.com',
      selfLink: zone
        ? `${BASE}/projects/${project}/zones/${zone}/operations/${name}`
        : `${BASE}/projects/${project}/global/operations/${name}`,
    };
    if (zone) o.zone = `${BASE}/projects/${project}/zones/${zone}`;
    if (error) {
      o.error = { errors: [error] };
      o.httpErrorStatusCode = httpStatus ?? 503;
      o.httpErrorMessage = 'SERVICE UNAVAILABLE';
    }
    operations.set(name, o);
    return o;
  };

  const httpError = (
    res: http.ServerResponse,
    code: number,
    message: string,
    reason: string,
    domain = 'global',
    info?: string,
  ) => {
    const body: any = { error: { code, message, errors: [{ message, domain, reason }] } };
    if (info)
      body.error.details = [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: info,
          domain: 'compute.googleapis.com',
          metadata: {},
        },
      ];
    send(res, code, body);
  };
  const send = (res: http.ServerResponse, code: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(text);
  };
  const notFound = (res: http.ServerResponse, what: string) =>
    httpError(res, 404, `The resource '${what}' was not found`, 'notFound');

  /** Reading an instance moves it along: PROVISIONING -> STAGING -> RUNNING (STOPPING -> TERMINATED). */
  const advance = (i: FakeInstance) => {
    if (i.status === 'PROVISIONING') i.status = 'RUNNING';
    else if (i.status === 'STAGING') i.status = 'RUNNING';
    else if (i.status === 'STOPPING') i.status = 'TERMINATED';
    return i;
  };

  /** `labels.K = V` (also `(labels.K = V)`, several joined by AND/space). */
  const matches = (i: FakeInstance, filter: string | undefined) => {
    if (!filter) return true;
    const terms = [...filter.matchAll(/labels\.([a-z0-9_-]+)\s*=\s*"?([a-z0-9_-]*)"?/g)];
    return terms.every(([, k, v]) => i.labels[k!] === v);
  };

  const faultFor = (res: http.ServerResponse, zone: string): boolean => {
    const f = faults[zone];
    const region = zone.replace(/-[a-z]$/, '');
    if (f === 'quota-region') {
      httpError(
        res,
        403,
        `Quota 'NVIDIA_A100_GPUS' exceeded.  Limit: 0.0 in region ${region}.`,
        'quotaExceeded',
        'usageLimits',
        'QUOTA_EXCEEDED',
      );
      return true;
    }
    if (f === 'quota-cloud') {
      httpError(
        res,
        403,
        "Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally.",
        'quotaExceeded',
        'usageLimits',
        'QUOTA_EXCEEDED',
      );
      return true;
    }
    if (f === 'rate') {
      httpError(res, 429, `Rate Limit Exceeded`, 'rateLimitExceeded', 'usageLimits', 'RATE_LIMIT_EXCEEDED');
      return true;
    }
    if (f === 'auth') {
      httpError(
        res,
        403,
        `Required 'compute.instances.create' permission for 'projects/${project}/zones/${zone}/instances/x'`,
        'forbidden',
        'global',
        'PERMISSION_DENIED',
      );
      return true;
    }
    return false;
  };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, raw: string) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    let m: RegExpMatchArray | null;
    if (url.pathname.startsWith('/computeMetadata/')) return metadataServer(req, res, url.pathname, project);
    // not Compute's API: what a connection from the internet to port 22 of this external IP
    // would meet (a firewall rule, then sshd taking SkyRun's metadata key or not); tests' ssh
    // proxy commands ask it before connecting to the loopback sshd
    if ((m = url.pathname.match(/^\/fake\/ssh-gate\/([^/]+)$/))) {
      const i = [...instances.values()].find((x) => x.networkInterfaces[0]?.accessConfigs[0]?.natIP === m![1]);
      const open = !!i && firewallAllows([...firewalls.values()], i.tags?.items ?? [], 22);
      const keys = !!i && !osLoginOn(i, projectMetadata, policy.requireOsLogin);
      return send(res, open && keys ? 200 : 403, { open, keys });
    }
    const prefix = `/compute/v1/projects/${project}/`;
    if (url.pathname === prefix.slice(0, -1)) url.pathname = prefix;
    const query = Object.fromEntries(url.searchParams.entries());
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      return httpError(res, 400, 'Invalid JSON payload received.', 'parseError');
    }
    if (!url.pathname.startsWith(prefix)) {
      return httpError(res, 404, `The resource 'projects/${url.pathname.split('/')[4]}' was not found`, 'notFound');
    }
    const p = url.pathname.slice(prefix.length);
    const method = req.method ?? 'GET';
    requests.push({ method, path: p, query, body });
    const seg = p.split('/');

    // a zone down: every zonal call there fails (https://cloud.google.com/compute/docs/api/handle-errors: 503)
    if ((m = p.match(/^zones\/([^/]+)\//)) && unreachable.has(m[1]!)) {
      return httpError(res, 503, `The service is currently unavailable in zone ${m[1]}.`, 'backendError');
    }
    // --- project (common instance metadata)
    if (p === '' && method === 'GET') {
      return send(res, 200, {
        kind: 'compute#project',
        name: project,
        commonInstanceMetadata: {
          kind: 'compute#metadata',
          items: Object.entries(projectMetadata).map(([key, value]) => ({ key, value })),
        },
        selfLink: `${BASE}/projects/${project}`,
      });
    }
    // --- instances
    if ((m = p.match(/^zones\/([^/]+)\/instances$/))) {
      const zone = m[1]!;
      if (method === 'GET') {
        const items = [...instances.values()]
          .filter((i) => i.zone.endsWith(`/zones/${zone}`) && matches(i, query.filter))
          .map(advance);
        return send(res, 200, {
          kind: 'compute#instanceList',
          id: `projects/${project}/zones/${zone}/instances`,
          items,
          selfLink: `${BASE}/projects/${project}/zones/${zone}/instances`,
        });
      }
      if (method === 'POST') {
        const rid = query.requestId;
        if (faults[zone] === 'rate' && faultFor(res, zone)) return;
        if (rid && byRequestId.has(rid)) return send(res, 200, byRequestId.get(rid));
        if (faultFor(res, zone)) return;
        if (!body?.name || !/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(body.name)) {
          return httpError(
            res,
            400,
            `Invalid value for field 'resource.name': '${body?.name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'`,
            'invalid',
          );
        }
        const refused = insertRefusal(body, zone, zoneMachineTypes[zone]);
        if (refused) return httpError(res, 400, refused.message, refused.reason);
        const target = `${BASE}/projects/${project}/zones/${zone}/instances/${body.name}`;
        let o;
        if (faults[zone] === 'capacity') {
          o = op('insert', target, zone, {
            code: 'ZONE_RESOURCE_POOL_EXHAUSTED',
            message: `The zone 'projects/${project}/zones/${zone}' does not have enough resources available to fulfill the request.  Try a different zone, or try again later.`,
          });
        } else if (instances.has(`${zone}/${body.name}`)) {
          return httpError(
            res,
            409,
            `The resource 'projects/${project}/zones/${zone}/instances/${body.name}' already exists`,
            'alreadyExists',
          );
        } else {
          const n = ++seq;
          instances.set(`${zone}/${body.name}`, {
            kind: 'compute#instance',
            id: nextId(),
            name: body.name,
            zone: `${BASE}/projects/${project}/zones/${zone}`,
            machineType: `${BASE}/projects/${project}/${body.machineType}`,
            status: 'PROVISIONING',
            labels: body.labels ?? {},
            tags: body.tags,
            scheduling: body.scheduling,
            guestAccelerators: body.guestAccelerators,
            metadata: body.metadata,
            disks: body.disks,
            serviceAccounts: body.serviceAccounts,
            networkInterfaces: [
              {
                network: `${BASE}/projects/${project}/global/networks/default`,
                networkIP: `10.128.0.${n % 250}`,
                accessConfigs: [
                  { type: 'ONE_TO_ONE_NAT', name: 'External NAT', natIP: opts.natIP ?? `34.1.0.${n % 250}` },
                ],
              },
            ],
            creationTimestamp: new Date().toISOString(),
            selfLink: target,
          });
          o = op('insert', target, zone);
        }
        if (rid) byRequestId.set(rid, o);
        return send(res, 200, o);
      }
    }
    if ((m = p.match(/^zones\/([^/]+)\/instances\/([^/]+)(?:\/(start|stop))?$/))) {
      const [, zone, name, action] = m as unknown as [string, string, string, string | undefined];
      const i = instances.get(`${zone}/${name}`);
      if (!i) return notFound(res, `projects/${project}/zones/${zone}/instances/${name}`);
      if (method === 'GET' && !action) return send(res, 200, advance(i));
      if (method === 'DELETE' && !action) {
        instances.delete(`${zone}/${name}`);
        return send(res, 200, op('delete', i.selfLink, zone));
      }
      if (method === 'POST' && action === 'start') {
        if (i.status === 'TERMINATED' || i.status === 'STOPPED') i.status = 'STAGING';
        return send(res, 200, op('start', i.selfLink, zone));
      }
      if (method === 'POST' && action === 'stop') {
        i.status = 'STOPPING';
        i.lastStopTimestamp = new Date().toISOString();
        return send(res, 200, op('stop', i.selfLink, zone));
      }
    }
    if (p === 'aggregated/instances' && method === 'GET') {
      const items: Record<string, unknown> = {};
      // without returnPartialSuccess one unreachable scope fails the whole list; with it, the scope
      // carries warning UNREACHABLE and is named in `unreachables` (aggregatedList reference)
      if (unreachable.size && query.returnPartialSuccess !== 'true') {
        return httpError(res, 503, `Some zones are unreachable: ${[...unreachable].join(', ')}`, 'backendError');
      }
      for (const z of unreachable) {
        items[`zones/${z}`] = {
          warning: { code: 'UNREACHABLE', message: `The zone 'projects/${project}/zones/${z}' is unreachable.` },
        };
      }
      for (const i of instances.values()) {
        if (unreachable.has(i.zone.split('/').pop()!)) continue;
        if (!matches(i, query.filter)) continue;
        const key = `zones/${i.zone.split('/').pop()}`;
        ((items[key] ??= { instances: [] }) as { instances: FakeInstance[] }).instances.push(advance(i));
      }
      return send(res, 200, {
        kind: 'compute#instanceAggregatedList',
        id: `projects/${project}/aggregated/instances`,
        items,
        ...(unreachable.size ? { unreachables: [...unreachable].map((z) => `zones/${z}`) } : {}),
        selfLink: `${BASE}/projects/${project}/aggregated/instances`,
      });
    }
    // --- operations
    if ((m = p.match(/^(?:zones\/[^/]+|global)\/operations\/([^/]+)(\/wait)?$/))) {
      const o = operations.get(m[1]!);
      if (!o) return notFound(res, p);
      if ((method === 'GET' && !m[2]) || (method === 'POST' && m[2])) return send(res, 200, o);
    }
    // --- firewalls
    if (p === 'global/firewalls' && method === 'POST') {
      if (firewalls.has(body?.name))
        return httpError(
          res,
          409,
          `The resource 'projects/${project}/global/firewalls/${body.name}' already exists`,
          'alreadyExists',
        );
      firewalls.set(body.name, {
        kind: 'compute#firewall',
        id: nextId(),
        ...body,
        selfLink: `${BASE}/projects/${project}/global/firewalls/${body.name}`,
      });
      return send(res, 200, op('insert', `${BASE}/projects/${project}/global/firewalls/${body.name}`));
    }
    if ((m = p.match(/^global\/firewalls\/([^/]+)$/))) {
      const fw = firewalls.get(m[1]!);
      if (!fw) return notFound(res, `projects/${project}/global/firewalls/${m[1]}`);
      if (method === 'GET') return send(res, 200, fw);
      if (method === 'DELETE') {
        firewalls.delete(m[1]!);
        return send(res, 200, op('delete', fw.selfLink));
      }
    }
    void seg;
    return httpError(res, 400, `fake-gce: ${method} ${p} is not implemented`, 'badRequest');
  };

  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      try {
        handle(req, res, raw);
      } catch (e) {
        send(res, 500, {
          error: {
            code: 500,
            message: String(e),
            errors: [{ reason: 'backendError', message: String(e), domain: 'global' }],
          },
        });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    project,
    requests,
    faults,
    instances,
    firewalls,
    zoneMachineTypes,
    unreachable,
    projectMetadata,
    get requireOsLogin() {
      return policy.requireOsLogin;
    },
    set requireOsLogin(v: boolean) {
      policy.requireOsLogin = v;
    },
    sshKeysHonoured(name) {
      const i = [...instances.values()].find((x) => x.name === name);
      return !!i && !osLoginOn(i, projectMetadata, policy.requireOsLogin);
    },
    sshOpen(name) {
      const i = [...instances.values()].find((x) => x.name === name);
      return !!i && firewallAllows([...firewalls.values()], i.tags?.items ?? [], 22);
    },
    live: (cluster) => [...instances.values()].filter((i) => !cluster || i.labels['skyrun-cluster'] === cluster),
    inserts: () => requests.filter((r) => r.method === 'POST' && /^zones\/[^/]+\/instances$/.test(r.path)),
    preempt(name) {
      for (const [key, i] of instances.entries()) {
        if (i.name !== name) continue;
        // https://cloud.google.com/compute/docs/instances/spot#preemption-process: the
        // termination action decides: DELETE removes the VM (and its auto-delete disks)
        if (i.scheduling?.instanceTerminationAction === 'DELETE') {
          instances.delete(key);
          continue;
        }
        i.status = 'TERMINATED';
        i.lastStopTimestamp = new Date().toISOString();
      }
    },
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
