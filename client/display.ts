/** The tables the CLI prints: considered resources, clusters, job queue. */
import type { ClusterInfo } from '../core/cluster';
import type { Offer } from '../core/offers';
import { ago, duration, table } from './table';

export function offersTable(offers: Offer[], numNodes: number): string {
  // one row per infra: its cheapest offer (SkyPilot's layout), the chosen one first
  const seen = new Set<string>();
  const rows: string[][] = [];
  offers.forEach((o, i) => {
    const infra = o.cloud === 'local' ? 'local' : `${o.cloud} (${o.zones.length === 1 ? o.zones[0] : o.region})`;
    if (seen.has(o.cloud + '/' + o.candidate) && i > 0) return;
    seen.add(o.cloud + '/' + o.candidate);
    rows.push([
      infra,
      o.instanceType,
      String(o.vcpus),
      String(o.memoryGiB),
      o.accelerator ? `${o.accelerator.name}:${o.accelerator.count}` : '-',
      (o.hourlyPrice * numNodes).toFixed(2),
      i === 0 ? '✔' : '',
    ]);
  });
  return [
    `Considered resources (${numNodes} node${numNodes > 1 ? 's' : ''}), minimizing cost:`,
    table(['INFRA', 'INSTANCE', 'vCPUs', 'Mem(GB)', 'GPUS', 'COST ($/hr)', 'CHOSEN'], rows),
  ].join('\n');
}

function autostopText(i: ClusterInfo): string {
  if (!i.autostop || i.autostop.idleMinutes < 0) return '-';
  return `${i.autostop.idleMinutes}m${i.autostop.down ? ' (down)' : ''}`;
}

export function clustersTable(infos: ClusterInfo[]): string {
  if (!infos.length) return 'No existing clusters.';
  return table(
    ['NAME', 'INFRA', 'RESOURCES', 'STATUS', 'AUTOSTOP', 'LAUNCHED'],
    infos.map((i) => {
      const o = i.handle?.offer;
      return [
        i.name,
        o ? [o.cloud, o.region !== o.cloud ? o.region : undefined].filter(Boolean).join('/') : '-',
        o ? `${i.numNodes}x ${o.instanceType}${o.spot ? ' spot' : ''}` : `${i.numNodes}x -`,
        i.status,
        autostopText(i),
        ago(i.launchedAt),
      ];
    }),
  );
}

export function queueTable(info: ClusterInfo, opts: { skipFinished?: boolean } = {}): string {
  const jobs = [...info.jobs]
    .filter((j) => !opts.skipFinished || ['PENDING', 'SETTING_UP', 'RUNNING'].includes(j.status))
    .sort((a, b) => b.id - a.id);
  const now = Date.now();
  return [
    `Job queue of cluster ${info.name}`,
    table(
      ['ID', 'NAME', 'SUBMITTED', 'STARTED', 'DURATION', 'RESOURCES', 'STATUS'],
      jobs.map((j) => [
        String(j.id),
        j.name ?? '-',
        ago(j.submittedAt, now),
        ago(j.startedAt, now),
        j.startedAt ? duration((j.endedAt ?? now) - j.startedAt) : '-',
        j.resources,
        j.status + (j.exitCode !== undefined && j.status !== 'SUCCEEDED' ? ` (exit ${j.exitCode})` : ''),
      ]),
    ),
  ].join('\n');
}
