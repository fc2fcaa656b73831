/**
 * The worker's liveness endpoint, for a process supervisor (Kubernetes probes, a load balancer's
 * health check): `SKYRUN_WORKER_HEALTH_ADDR=host:port` serves `GET /healthz`, 200 while the worker
 * runs and polls, 503 otherwise (starting, draining, failed). It says nothing else: no workflow,
 * job or configuration is reachable through it.
 */
import * as http from 'node:http';

export type WorkerState = () => string;

/** Parse `host:port` (IPv6 in brackets); a bare port listens on loopback. */
export function healthAddress(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`SKYRUN_WORKER_HEALTH_ADDR: expected host:port (e.g. 0.0.0.0:8080) or a port, got '${value}'`);
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

/** Start the endpoint; resolves once it listens. */
export function serveHealth(addr: string, state: WorkerState): Promise<http.Server> {
  const { host, port } = healthAddress(addr);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/healthz' && req.url !== '/readyz')) {
      res.writeHead(404).end();
      return;
    }
    const s = state();
    res.writeHead(s === 'RUNNING' ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ state: s }) + '\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
