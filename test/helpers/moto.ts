/**
 * A real EC2 API emulator for tests: moto's server (from PyPI) as a child process on a free
 * loopback port, behind a small HTTP proxy that can answer chosen requests with EC2's own XML
 * error responses (by action, zone and count) or delay them, and forwards the rest to moto.
 * `env` holds what a process needs to use it: the endpoint and fake credentials.
 *
 * The proxy is stricter than moto where EC2 is (strict.ts): ClientToken idempotency, regions an
 * organisation's policy denies, and eventual consistency right after a create. moto starts with
 * the images SkyRun looks up (AMIS below) in every region.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, sleep } from './skyrun';
import { type Lag, Strict, type Upstream, errorResponse, regionOf } from './moto-strict';

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
  /** the region it was signed for */
  region?: string;
  params: URLSearchParams;
  injected?: string;
}

export interface Moto {
  /** the proxy's URL (what AWS_ENDPOINT_URL points at) */
  endpoint: string;
  /** the images moto knows in every region (what SkyRun's DescribeImages lookups find) */
  amis: typeof AMIS;
  /** moto's own URL, without injections */
  direct: string;
  env: Record<string, string>;
  requests: SeenRequest[];
  inject(i: Injection): void;
  /** answer UnauthorizedOperation to every call in `region` (an organisation's region-deny policy) */
  deny(region: string): void;
  /** eventual consistency for the next security group / instances created */
  lag(l: Lag): void;
  /** drop injections, denials and lags */
  clear(): void;
  stop(): Promise<void>;
}

const ami = (id: string, owner: string, name: string, architecture: string) => ({
  ami_id: id,
  state: 'available',
  public: true,
  owner_id: owner,
  image_location: `${owner}/${name}`,
  root_device_type: 'ebs',
  root_device_name: '/dev/sda1',
  description: name,
  image_type: 'machine',
  architecture,
  name,
  virtualization_type: 'hvm',
  hypervisor: 'xen',
});

/**
 * The images moto knows (MOTO_AMIS_PATH replaces its defaults): Canonical's Ubuntu 22.04 for
 * both architectures (an older and a newer build) and AWS's Deep Learning Base GPU AMIs. No
 * creation dates: moto parses them in place when it loads the first region, and fails on the
 * second; the build date in the name tells the newer one.
 */
export const AMIS = [
  ami(
    'ami-0a11aaaa00000001',
    '099720109477',
    'ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240101',
    'x86_64',
  ),
  ami(
    'ami-0a11aaaa00000002',
    '099720109477',
    'ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20250101',
    'x86_64',
  ),
  ami(
    'ami-0a11aaaa00000003',
    '099720109477',
    'ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-arm64-server-20250101',
    'arm64',
  ),
  ami(
    'ami-0a11aaaa00000004',
    '898082745236',
    'Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 20250101',
    'x86_64',
  ),
  ami(
    'ami-0a11aaaa00000005',
    '898082745236',
    'Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) 20250101',
    'arm64',
  ),
];

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

/** Forward a request to moto and read its whole answer. */
function forward(port: number, req: http.IncomingMessage, body: Buffer): Promise<Upstream> {
  return new Promise((resolve) => {
    const fwd = http.request(
      {
        host: '127.0.0.1',
        port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: `127.0.0.1:${port}` },
      },
      (up) => {
        const chunks: Buffer[] = [];
        up.on('data', (d: Buffer) => chunks.push(d));
        up.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(up.headers)) {
            if (typeof v === 'string' && k !== 'content-length' && k !== 'transfer-encoding') headers[k] = v;
          }
          resolve({ status: up.statusCode ?? 502, headers, body: Buffer.concat(chunks).toString() });
        });
      },
    );
    fwd.on('error', () => resolve({ status: 502, headers: {}, body: '' }));
    fwd.end(body);
  });
}

export async function startMoto(opts: { region?: string } = {}): Promise<Moto> {
  const motoPort = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'skyrun-moto-'));
  const amisPath = path.join(dir, 'amis.json');
  writeFileSync(amisPath, JSON.stringify(AMIS));
  const proc = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(motoPort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MOTO_AMIS_PATH: amisPath },
  });
  let log = '';
  proc.stdout!.on('data', (d) => (log = (log + d).slice(-2000)));
  proc.stderr!.on('data', (d) => (log = (log + d).slice(-2000)));
  await waitListening(motoPort, proc, () => log);

  let injections: Injection[] = [];
  const requests: SeenRequest[] = [];
  const strict = new Strict();
  const answer = (res: http.ServerResponse, a: Upstream) => {
    res.writeHead(a.status, { ...a.headers, 'content-length': Buffer.byteLength(a.body) });
    res.end(a.body);
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const params = new URLSearchParams(body.toString());
      const action = params.get('Action') ?? '';
      const region = regionOf(req.headers.authorization);
      const seen: SeenRequest = { action, params, region };
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
          answer(
            res,
            errorResponse(hit.status ?? statusOf(hit.code), hit.code, MESSAGES[hit.code] ?? `${hit.code} (injected)`),
          );
          return;
        }
      }
      const ruled = strict.before(action, params, region);
      if (ruled) {
        seen.injected = /<Code>([^<]+)<\/Code>/.exec(ruled.body)?.[1];
        answer(res, ruled);
        return;
      }
      answer(res, strict.after(action, params, region, await forward(motoPort, req, body)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const region = opts.region ?? 'us-east-1';
  return {
    endpoint,
    amis: AMIS,
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
    deny(r) {
      strict.denied.add(r);
    },
    lag(l) {
      strict.lag(l);
    },
    clear() {
      injections = [];
      strict.reset();
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
