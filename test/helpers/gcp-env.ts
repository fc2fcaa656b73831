/**
 * What the gcp tests share: a loopback Compute Engine (fake-gce.ts), a real sshd reached through
 * the configured ssh_proxy_command whatever address an instance has, a SkyRun home and config,
 * and offers/requests to provision. `useGcpEnv()` registers the hooks that start and stop them.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Offer } from '../../core/offers';
import type { ProvisionContext, ProvisionRequest } from '../../activities/infra/clouds/provider';
import { closeAllSsh } from '../../activities/infra/runners/ssh';
import { skyrunSshKey } from '../../activities/infra/settings';
import { startFakeGce, type FakeGce } from './fake-gce';
import { FIXTURES } from './sim';
import { startSshd, type FakeHost } from './sshd';

export const ctx: ProvisionContext & { beats: string[][] } = {
  beats: [],
  attemptId: '',
  heartbeat(ids) {
    ctx.beats.push(ids);
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 200))),
};

/**
 * SkyRun config pointing SSH at the loopback sshd whatever address the instance has; `extra`
 * lines under gcp:. With `gate` (the fake GCE's URL), the proxy first asks the fake whether a
 * connection to that external IP's port 22 would get in (firewall, OS Login) and fails if not.
 */
export function writeConfig(file: string, host: FakeHost, extra: string[] = [], gate?: string): void {
  const connect = `exec 3<>/dev/tcp/${host.host}/${host.port}; cat <&3 & cat >&3`;
  const g = gate ? new URL(gate) : undefined;
  const ask = g
    ? `exec 4<>/dev/tcp/${g.hostname}/${g.port}; printf "GET /fake/ssh-gate/%h HTTP/1.0\\r\\n\\r\\n" >&4; ` +
      `read -r status <&4; case "$status" in *" 200 "*) ;; *) exit 1;; esac; `
    : '';
  writeFileSync(
    file,
    [
      'gcp:',
      '  project: test-project',
      '  ssh_user: root',
      `  ssh_proxy_command: ${JSON.stringify(`bash -c '${ask}${connect}'`)}`,
      ...extra.map((l) => `  ${l}`),
      '',
    ].join('\n'),
  );
}

export function offer(o: Partial<Offer>): Offer {
  return {
    cloud: 'gcp',
    region: 'us-central1',
    zones: ['us-central1-a', 'us-central1-b'],
    instanceType: 'n2-standard-8',
    spot: false,
    hourlyPrice: 0.38847,
    numNodes: 1,
    vcpus: 8,
    memoryGiB: 32,
    candidate: 0,
    ...o,
  };
}

export function request(cluster: string, o: Partial<Offer>, extra: Partial<ProvisionRequest> = {}): ProvisionRequest {
  return { clusterName: cluster, offer: offer(o), offerKey: `cluster/${cluster}#0`, labels: {}, ...extra };
}

export interface GcpEnv {
  gce: FakeGce;
  sshd: FakeHost;
  home: string;
  /** write the SkyRun config again, with `extra` lines under gcp: (SSH gated by the fake unless `gate` is false) */
  configure(extra?: string[], gate?: boolean): void;
}

/** Start the fake GCE and sshd before the file's tests (reset between tests), stop them after. */
export function useGcpEnv(): GcpEnv {
  const env = {} as GcpEnv;
  const saved = { ...process.env };
  beforeAll(async () => {
    env.home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-gcp-'));
    process.env.SKYRUN_HOME = env.home;
    process.env.SKYRUN_CONFIG = path.join(env.home, 'config.yaml');
    process.env.SKYRUN_CATALOG_DIR = FIXTURES;
    env.gce = await startFakeGce();
    process.env.SKYRUN_GCE_ENDPOINT = env.gce.url;
    env.sshd = await startSshd();
    appendFileSync(path.join(env.sshd.dir, 'authorized_keys'), `${skyrunSshKey().publicKey}\n`);
    env.configure = (extra = [], gate = true) =>
      writeConfig(process.env.SKYRUN_CONFIG!, env.sshd, extra, gate ? env.gce.url : undefined);
    env.configure();
  });
  afterAll(async () => {
    await closeAllSsh();
    await env.gce?.stop();
    await env.sshd?.stop();
    process.env = saved;
    if (env.home) rmSync(env.home, { recursive: true, force: true });
  });
  beforeEach(() => {
    const { gce } = env;
    for (const z of Object.keys(gce.faults)) delete gce.faults[z];
    for (const z of Object.keys(gce.zoneMachineTypes)) delete gce.zoneMachineTypes[z];
    for (const k of Object.keys(gce.projectMetadata)) delete gce.projectMetadata[k];
    gce.unreachable.clear();
    gce.requireOsLogin = false;
    gce.requests.length = 0;
    ctx.beats.length = 0;
  });
  return env;
}
