/**
 * Offers from the live cluster. A pod's shape is what the task asks (SkyPilot's Kubernetes
 * defaults when it asks nothing: 2 CPUs and 2 GiB, or 4 CPUs and 16 GiB with GPUs), written
 * SkyPilot-style as `2CPU--2GB` or `4CPU--16GB--L4:1`; a context offers it when one of its
 * Ready nodes could hold one such pod (allocatable, not what is free: whether it is free now is
 * the scheduler's answer, and a pod left unschedulable past the provision timeout fails over).
 * One offer per context (region), priced from config (0 by default).
 */
import type { Offer } from '../../../../core/offers';
import type { Resources } from '../../../../core/task';
import type { NodeShape } from './nodes';

export interface PodShape {
  cpus: number;
  memoryGiB: number;
  accelerator?: { name: string; count: number };
}

const num = (x: number) => (Number.isInteger(x) ? String(x) : String(Number(x.toFixed(2))));

export function instanceTypeOf(s: PodShape): string {
  const acc = s.accelerator ? `--${s.accelerator.name}:${num(s.accelerator.count)}` : '';
  return `${num(s.cpus)}CPU--${num(s.memoryGiB)}GB${acc}`;
}

const TYPE_RE = /^(\d+(?:\.\d+)?)CPU--(\d+(?:\.\d+)?)GB(?:--([A-Za-z0-9][-A-Za-z0-9_.]*):(\d+))?$/;

/** `4CPU--16GB--L4:1` back to its shape; undefined for another infra's instance type. */
export function parseInstanceType(t: string): PodShape | undefined {
  const m = TYPE_RE.exec(t);
  if (!m) return undefined;
  const shape: PodShape = { cpus: Number(m[1]), memoryGiB: Number(m[2]) };
  if (m[3]) shape.accelerator = { name: m[3], count: Number(m[4]) };
  return shape;
}

/** The pod a resources candidate asks for; undefined when no pod can be it (spot, fractional GPUs, another infra's type). */
export function podShapeFor(r: Resources): PodShape | undefined {
  if (r.useSpot) return undefined;
  if (r.instanceType) return parseInstanceType(r.instanceType);
  const acc = r.accelerator;
  if (acc && !Number.isInteger(acc.count)) return undefined;
  const cpus = r.cpus?.value ?? (acc ? 4 : 2);
  const memoryGiB = r.memory?.value ?? (r.cpus ? cpus * (acc ? 4 : 1) : acc ? 16 : 2);
  return { cpus, memoryGiB, accelerator: acc ? { name: acc.name, count: acc.count } : undefined };
}

/** Whether one pod of this shape fits on the node (GPU kind by catalog name, case-insensitive). */
export function fits(s: PodShape, n: NodeShape): boolean {
  if (n.cpus < s.cpus || n.memoryGiB < s.memoryGiB) return false;
  if (!s.accelerator) return true;
  return n.gpuName?.toLowerCase() === s.accelerator.name.toLowerCase() && n.gpus >= s.accelerator.count;
}

export function offerFor(
  context: string,
  s: PodShape,
  numNodes: number,
  candidate: number,
  hourlyPrice: number,
): Offer {
  return {
    cloud: 'kubernetes',
    region: context,
    zones: [],
    instanceType: instanceTypeOf(s),
    spot: false,
    hourlyPrice,
    numNodes,
    vcpus: s.cpus,
    memoryGiB: s.memoryGiB,
    accelerator: s.accelerator,
    candidate,
  };
}
