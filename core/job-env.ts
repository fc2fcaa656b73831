/** The environment a job's setup and run see on each node (SkyPilot's names, plus SKYRUN_ aliases). */
import type { ClusterHandle, JobRequest } from './cluster';

export function jobEnv(
  handle: ClusterHandle,
  rank: number,
  job: Pick<JobRequest, 'envs' | 'secrets' | 'numGpusPerNode'>,
  taskId: string,
  phase: 'setup' | 'run',
): Record<string, string> {
  const ips = handle.nodes.map((n) => n.ip).join('\n');
  const o = handle.offer;
  const sky: Record<string, string> = {
    NODE_RANK: String(rank),
    NODE_IPS: ips,
    NUM_NODES: String(handle.nodes.length),
    NUM_GPUS_PER_NODE: String(job.numGpusPerNode),
    TASK_ID: taskId,
    CLUSTER_INFO: JSON.stringify({
      cluster_name: handle.clusterName,
      cloud: o.cloud,
      region: o.region,
      zone: handle.zone ?? null,
      num_nodes: handle.nodes.length,
    }),
  };
  if (phase === 'setup') {
    sky.SETUP_NODE_RANK = sky.NODE_RANK!;
    sky.SETUP_NODE_IPS = ips;
  }
  const env: Record<string, string> = { ...job.envs, ...job.secrets };
  for (const [k, v] of Object.entries(sky)) {
    env[`SKYPILOT_${k}`] = v;
    env[`SKYRUN_${k}`] = v;
  }
  return env;
}
