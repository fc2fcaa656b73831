/**
 * `ports` on Kubernetes: one Service per cluster (`<cluster>-ports`, names.ts) of the configured
 * type (ClusterIP, NodePort or LoadBalancer) selecting the head pod, one service port per task
 * port (ranges expanded), created idempotently while provisioning and deleted at teardown.
 * Endpoints: NodePort -> `<node InternalIP>:<nodePort>` of the head's node; LoadBalancer -> the
 * ingress IP (or host name) once assigned; ClusterIP -> `<clusterIP>:<port>`, reachable only
 * from inside the cluster.
 */
import type { V1Service } from '@kubernetes/client-node';
import { type Endpoint, portNumbers } from '../provider';
import { type Target, call, kubeError, statusOf, unlessNotFound } from './api';
import type { ServiceType } from './config';
import { LABELS, clusterSelector, serviceName } from './names';

/** A Service holds at most this many ports here (ranges beyond it are refused, not truncated). */
const MAX_PORTS = 100;

export function portList(ranges: Array<{ from: number; to: number }>): number[] {
  return portNumbers(ranges, MAX_PORTS);
}

export function serviceManifest(cluster: string, ports: number[], type: ServiceType): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: serviceName(cluster), labels: { [LABELS.cluster]: cluster } },
    spec: {
      type,
      selector: { [LABELS.cluster]: cluster, [LABELS.node]: 'head' },
      ports: ports.map((p) => ({ name: `port-${p}`, port: p, targetPort: p, protocol: 'TCP' })),
    },
  };
}

/** Create the cluster's Service, or replace its ports/type when an earlier one differs. */
export async function ensureService(t: Target, cluster: string, ports: number[], type: ServiceType): Promise<void> {
  const body = serviceManifest(cluster, ports, type);
  const name = body.metadata!.name!;
  const have = await unlessNotFound(`read service ${name}`, () =>
    t.api.readNamespacedService({ name, namespace: t.namespace }),
  );
  const same =
    have?.spec?.type === type &&
    JSON.stringify((have.spec.ports ?? []).map((p) => p.port).sort((a, b) => a - b)) === JSON.stringify(ports);
  if (same) return;
  if (have)
    await unlessNotFound(`delete service ${name}`, () =>
      t.api.deleteNamespacedService({ name, namespace: t.namespace }),
    );
  try {
    await t.api.createNamespacedService({ namespace: t.namespace, body });
  } catch (e) {
    if (statusOf(e) !== 409) throw kubeError(e, `create service ${name} in ${t.context}/${t.namespace}`);
  }
}

export async function listServices(t: Target, cluster: string): Promise<V1Service[]> {
  return (
    await call(`list services of ${cluster}`, () =>
      t.api.listNamespacedService({ namespace: t.namespace, labelSelector: clusterSelector(cluster) }),
    )
  ).items;
}

/** Services have no delete-collection on every server version: one by one. */
export async function deleteServices(t: Target, cluster: string): Promise<void> {
  for (const s of await listServices(t, cluster)) {
    const name = s.metadata!.name!;
    await unlessNotFound(`delete service ${name}`, () =>
      t.api.deleteNamespacedService({ name, namespace: t.namespace }),
    );
  }
}

/** Where each port of the cluster's Service is reachable. */
export async function serviceEndpoints(t: Target, cluster: string, ports: number[]): Promise<Endpoint[]> {
  const name = serviceName(cluster);
  const svc = await unlessNotFound(`read service ${name}`, () =>
    t.api.readNamespacedService({ name, namespace: t.namespace }),
  );
  if (!svc) return ports.map((port) => ({ port, note: `no service ${name} in ${t.context}/${t.namespace}` }));
  const byPort = new Map((svc.spec?.ports ?? []).map((p) => [p.port, p]));
  const type = svc.spec?.type ?? 'ClusterIP';
  let nodeIp: string | undefined;
  if (type === 'NodePort') {
    const head = (
      await call(`list pods of ${cluster}`, () =>
        t.api.listNamespacedPod({
          namespace: t.namespace,
          labelSelector: `${clusterSelector(cluster)},${LABELS.node}=head`,
        }),
      )
    ).items[0];
    const node = head?.spec?.nodeName
      ? await unlessNotFound(`read node ${head.spec.nodeName}`, () => t.api.readNode({ name: head.spec!.nodeName! }))
      : undefined;
    nodeIp = node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? head?.status?.hostIP;
  }
  const ingress = svc.status?.loadBalancer?.ingress?.[0];
  return ports.map((port): Endpoint => {
    const sp = byPort.get(port);
    if (!sp) return { port, note: `service ${name} has no port ${port}` };
    if (type === 'NodePort')
      return nodeIp && sp.nodePort
        ? { port, address: `${nodeIp}:${sp.nodePort}` }
        : { port, note: 'the head pod is not on a node yet' };
    if (type === 'LoadBalancer') {
      const host = ingress?.ip ?? ingress?.hostname;
      return host ? { port, address: `${host}:${port}` } : { port, note: 'load balancer address pending' };
    }
    return {
      port,
      address: `${svc.spec?.clusterIP}:${port}`,
      note: 'ClusterIP: reachable from inside the cluster only',
    };
  });
}
