/**
 * `skyrun status --endpoints [CLUSTER...]` and `skyrun status --endpoint PORT CLUSTER`: where
 * the task's `ports` are reachable, as SkyPilot's: `http://<head IP>:<port>` on the clouds; on
 * Kubernetes the Service's address (NodePort: node InternalIP and node port; LoadBalancer: its
 * ingress once assigned; ClusterIP: the cluster IP, reachable from inside the cluster only).
 */
import type { ClusterInfo } from '../../core/cluster';
import { ExitCode } from '../../core/states';
import { CliError } from './shared';

const url = (address: string) => `http://${address}`;

async function endpointsOf(info: ClusterInfo, port?: number) {
  if (!info.handle || info.status !== 'UP')
    throw new CliError(`Cluster '${info.name}' is ${info.status}: it has no endpoints`, ExitCode.ERROR);
  const { clusterEndpoints } = await import('../../activities/infra/inspect');
  try {
    return await clusterEndpoints(info.handle, port);
  } catch (e) {
    throw new CliError((e as Error).message, ExitCode.ERROR);
  }
}

/** `--endpoint PORT CLUSTER`: the address alone (scriptable); exit 1 while there is none. */
export async function printEndpoint(info: ClusterInfo, port: number): Promise<number> {
  const [ep] = await endpointsOf(info, port);
  if (!ep?.address) throw new CliError(`port ${port} of '${info.name}': ${ep?.note ?? 'no address'}`, ExitCode.ERROR);
  console.log(url(ep.address));
  if (ep.note) console.error(`(${ep.note})`);
  return ExitCode.SUCCEEDED;
}

/** `--endpoints`: every port of each cluster, `PORT: URL`. */
export async function printEndpoints(infos: ClusterInfo[], named: boolean): Promise<number> {
  const shown = named ? infos : infos.filter((i) => i.status === 'UP' && i.handle?.ports?.length);
  if (!shown.length) {
    console.log(named ? 'No such cluster.' : 'No UP cluster opens ports.');
    return named ? ExitCode.ERROR : ExitCode.SUCCEEDED;
  }
  for (const info of shown) {
    const eps = await endpointsOf(info);
    if (shown.length > 1 || !named) console.log(`Cluster '${info.name}':`);
    if (!eps.length) console.log(`  no ports opened (the task has no \`ports\`)`);
    for (const ep of eps) {
      const where = ep.address ? url(ep.address) : 'pending';
      console.log(`${shown.length > 1 || !named ? '  ' : ''}${ep.port}: ${where}${ep.note ? ` (${ep.note})` : ''}`);
    }
  }
  return ExitCode.SUCCEEDED;
}
