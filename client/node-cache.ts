/**
 * The SSH nodes of the clusters this CLI has followed a job on (SKYRUN_HOME/ssh/nodes/<cluster>.json),
 * so that `exec` can open its connection to them first thing, while it loads the Temporal client
 * and submits the job, instead of after (an SSH handshake costs about as much as `ssh host true`).
 * A stale entry costs one unused connection attempt: the log is read from the nodes the cluster's
 * state names, and the CLI exits without waiting for connections.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ClusterHandle, RunnerSpec } from '../core/cluster';
import { homePath, warmNode } from '../activities/infra/inspect';

/** The connections this process has started, by node: each node is warmed once. */
const warming = new Map<string, Promise<void>>();

/** Open the connection to `node` (once per process); resolves when it is up or has failed. */
export function warmNodeOnce(node: RunnerSpec): Promise<void> {
  const key = JSON.stringify(node);
  let w = warming.get(key);
  if (!w) warming.set(key, (w = warmNode(node)));
  return w;
}

function file(cluster: string): string {
  return homePath('ssh', 'nodes', `${cluster}.json`);
}

/** Keep the cluster's SSH nodes for the next `exec` (nothing for other runners: they have no handshake to hide). */
export function rememberNodes(cluster: string, handle: ClusterHandle): void {
  const nodes = handle.nodes.map((n) => n.runner).filter((r) => r.kind === 'ssh');
  const text = JSON.stringify(nodes);
  try {
    if (readFileSync(file(cluster), 'utf8') === text) return;
  } catch {
    /* not kept yet */
  }
  try {
    mkdirSync(path.dirname(file(cluster)), { recursive: true, mode: 0o700 });
    writeFileSync(file(cluster), text, { mode: 0o600 });
  } catch {
    /* only a speed-up */
  }
}

/**
 * Start connecting to the cluster's remembered SSH nodes, without waiting; resolves once the
 * connections are under way (their key files read), so that a long synchronous module load after
 * it overlaps the server's side of the handshake.
 */
export async function warmRememberedNodes(cluster: string): Promise<void> {
  let nodes: RunnerSpec[];
  try {
    nodes = JSON.parse(readFileSync(file(cluster), 'utf8')) as RunnerSpec[];
  } catch {
    return;
  }
  for (const n of nodes) if (n?.kind === 'ssh') void warmNodeOnce(n);
  await new Promise((r) => setTimeout(r, 5));
}
