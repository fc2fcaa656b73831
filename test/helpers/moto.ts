/**
 * A real EC2 API emulator for tests: moto's server (from PyPI) as a child process on a free
 * loopback port, behind a small HTTP proxy that can answer chosen requests with EC2's own XML
 * error responses (by action, zone and count) or delay them, and forwards the rest to moto.
 * `env` holds what a process needs to use it: the endpoint and fake credentials.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { freePort, sleep } from './skyrun';

export interface Injection {
  /** the EC2 Action, e.g. RunInstances */
  action: string;
  /** only requests for this zone name (the form's Placement.AvailabilityZone) */
  zone?: string;
  /** the EC2 error code to answer with; without it, the request is only delayed */
  code?: string;
  status?: number;
  /** how many requests it applies to (default: all) */
  times?: number;
  /** wait this long before answering or forwarding */
  delayMs?: number;
}

export interface SeenRequest {
  action: string;
  params: URLSearchParams;
  injected?: string;
}

export interface Moto {
  /** the proxy's URL (what AWS_ENDPOINT_URL points at) */
  endpoint: string;
  /** moto's own URL, without injections */
  direct: string;
  env: Record<string, string>;
  requests: SeenRequest[];
  inject(i: Injection): void;
  clear(): void;
  stop(): Promise<void>;
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${Math.random().toString(16).slice(2)}-inj</RequestID></Response>`;
}

const MESSAGES: Record<string, string> = {
  InsufficientInstanceCapacity: 'We currently do not have sufficient capacity in the Availability Zone you requested.',
  VcpuLimitExceeded: 'You have requested more vCPU capacity than your current vCPU limit allows.',
  AuthFailure: 'AWS was not able to validate the provided access credentials',
  RequestLimitExceeded: 'Request limit exceeded.',
};

/** The HTTP status EC2 answers each code with. */
function statusOf(code: string): number {
  if (code === 'InsufficientInstanceCapacity' || code === 'InternalError') return 500;
  if (code === 'RequestLimitExceeded' || code === 'Unavailable') return 503;
  if (code === 'AuthFailure' || code === 'UnauthorizedOperation') return 403;
  return 400;
}

async function waitListening(port: number, proc: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`moto exited: ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`moto did not come up on ${port}: ${log()}`);
}

export async function startMoto(opts: { region?: string } = {}): Promise<Moto> {
  const motoPort = await freePort();
  const proc = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(motoPort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout!.on('data', (d) => (log = (log + d).slice(-2000)));
  proc.stderr!.on('data', (d) => (log = (log + d).slice(-2000)));
  await waitListening(motoPort, proc, () => log);

  let injections: Injection[] = [];
  const requests: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const params = new URLSearchParams(body.toString());
      const action = params.get('Action') ?? '';
      const seen: SeenRequest = { action, params };
      requests.push(seen);
      const zone = params.get('Placement.AvailabilityZone') ?? undefined;
      const hit = injections.find(
        (i) => i.action === action && (!i.zone || i.zone === zone) && (i.times ?? Infinity) > 0,
      );
      if (hit) {
        if (hit.times !== undefined) hit.times--;
        if (hit.delayMs) await sleep(hit.delayMs);
        if (hit.code) {
          seen.injected = hit.code;
          res.writeHead(hit.status ?? statusOf(hit.code), { 'content-type': 'text/xml' });
          res.end(errorXml(hit.code, MESSAGES[hit.code] ?? `${hit.code} (injected)`));
          return;
        }
      }
      const fwd = http.request(
        {
          host: '127.0.0.1',
          port: motoPort,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: `127.0.0.1:${motoPort}` },
        },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      fwd.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      fwd.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const region = opts.region ?? 'us-east-1';
  return {
    endpoint,
    direct: `http://127.0.0.1:${motoPort}`,
    env: {
      AWS_ENDPOINT_URL: endpoint,
      AWS_ENDPOINT_URL_EC2: endpoint,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_SESSION_TOKEN: 'testing',
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    requests,
    inject(i) {
      injections.push({ ...i });
    },
    clear() {
      injections = [];
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
    },
  };
}
