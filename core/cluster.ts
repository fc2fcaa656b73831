/**
 * What the cluster workflow keeps, receives and answers: handles, jobs, and the shapes of its
 * updates and queries. Pure data, shared by workflows, activities and client.
 */
import type { ContainerSpec } from './docker';
import type { ClusterStatus, JobStatus, Phase } from './states';
import type { Offer } from './offers';
import type { Resources } from './task';

/** How to reach a node's shell: a local folder (local and sim infra), SSH (clouds, ssh pools), or kubernetes exec. */
export type RunnerSpec =
  | { kind: 'local'; root: string }
  /** a node reached over SSH; its SkyRun root is ~/.skyrun-node and its workdir ~/sky_workdir */
  | {
      kind: 'ssh';
      host: string;
      port: number;
      user: string;
      identityFile: string;
      proxyCommand?: string;
      /** this cluster's SkyRun folder on the node, relative to ~ (default .skyrun-node) */
      nodeDir?: string;
      /**
       * Whose host key this is: recorded on first contact under the cluster and node (instance
       * id), and refused when it changes; `fingerprint` (SHA256:...) is pinned from the start.
       * Without it the record is kept by address.
       */
      hostKey?: { cluster: string; node: string; fingerprint?: string };
      /** docker mode: setup and run execute in this container on the node (core/docker.ts) */
      container?: ContainerSpec;
    }
  /**
   * a pod reached through the Kubernetes API's exec (as `kubectl exec`); the kubeconfig is the
   * worker's own (KUBECONFIG or ~/.kube/config), so the handle names the context, never credentials
   */
  | { kind: 'kube'; context: string; namespace: string; pod: string; container: string };

export interface NodeInfo {
  rank: number;
  instanceId: string;
  ip: string;
  runner: RunnerSpec;
}

export interface ClusterHandle {
  clusterName: string;
  offer: Offer;
  /** the zone the nodes landed in, if the infra has zones */
  zone?: string;
  offerKey: string;
  nodes: NodeInfo[];
  /** the ports the task opened (the provision request's), for `status --endpoints` */
  ports?: Array<{ from: number; to: number }>;
}

/** The handle's nodes that the infra's instance list no longer shows running (or starting). */
export function nodesNotRunning(
  handle: ClusterHandle,
  instances: Array<{ instanceId: string; state: string }>,
): string[] {
  const running = new Set(
    instances.filter((s) => s.state === 'running' || s.state === 'pending').map((s) => s.instanceId),
  );
  return handle.nodes.map((n) => n.instanceId).filter((id) => !running.has(id));
}

export interface AutostopSetting {
  idleMinutes: number;
  down: boolean;
}

/**
 * A git workdir as a job carries it. `secrets` (GIT_TOKEN for HTTPS, GIT_SSH_KEY, a private key's
 * text, for SSH URLs) make the codec encrypt every payload holding it (worker/runtime/codec.ts).
 */
export interface GitWorkdir {
  url: string;
  /** a branch, tag or commit; the remote's default branch when absent */
  ref?: string;
  secrets?: { GIT_TOKEN?: string; GIT_SSH_KEY?: string };
}

/** One job submitted to a cluster: what runs, never how it went. */
export interface JobRequest {
  name?: string;
  setup?: string;
  run?: string;
  /**
   * before setup/run, to `~/sky_workdir` on every node: a local folder (synced), or a git
   * repository (cloned there, at `ref`)
   */
  workdir?: string | GitWorkdir;
  /** file_mounts with local sources: remote path -> absolute local path */
  fileMounts?: Record<string, string>;
  envs: Record<string, string>;
  /** secret values travel only inside encrypted payloads (see worker/runtime/codec.ts) */
  secrets: Record<string, string>;
  numGpusPerNode: number;
  /** 0.5 CPU by default, like SkyPilot, so several CPU jobs share a node */
  cpuDemand: number;
}

export interface JobRecord {
  id: number;
  name?: string;
  status: JobStatus;
  submittedAt: number;
  startedAt?: number;
  endedAt?: number;
  exitCode?: number;
  /** rank whose failure failed the job */
  failedRank?: number;
  /** why the job ended FAILED_DRIVER (or why its cancel could not reach a node): no secret values */
  failureReason?: string;
  taskId: string;
  resources: string;
}

export interface ProvisionAttempt {
  /** `cloud/region/zone instance [spot]` */
  offer: string;
  infra: string;
  instance: string;
  outcome: 'ok' | 'failed';
  errorClass?: string;
  reason?: string;
}

export interface ClusterInfo {
  name: string;
  status: ClusterStatus;
  phase: Phase;
  launchedAt: number;
  handle?: ClusterHandle;
  autostop?: AutostopSetting;
  jobs: JobRecord[];
  attempts: ProvisionAttempt[];
  /** why the cluster is not UP, when it failed */
  error?: string;
  /** the last teardown error while cleanup is blocked (phase CleanupBlocked); SkyRun keeps retrying */
  cleanupError?: string;
  numNodes: number;
  resources: string;
}

export interface SubmitJobResult {
  jobId: number;
  taskId: string;
}

/** The two phases of a job on a node. */
export type JobPhase = 'setup' | 'run';

/** A job phase on one node, as its runner sees it. */
export type PhaseState =
  | { state: 'absent' }
  | { state: 'starting' }
  | { state: 'running'; pid: number }
  | { state: 'done'; exitCode: number }
  /** the process is gone without an exit code (killed with the node, or by hand) */
  | { state: 'lost' };
