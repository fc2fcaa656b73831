// The value forms of a task's `resources` (and of the CLI flags --gpus, --cpus,
// --memory, --infra, --ports, --disk-size), re-exported from where they live in
// core/task/ so existing imports of core/resources keep working:
//   task/parsed.ts        Parsed<T> and the helpers the parsers share
//   task/infra.ts         clouds, infra strings, region / zone
//   task/accelerators.ts  accelerator names, counts and forms
//   task/values.ts        quantities, ports, disk size, tiers, autostop, job recovery

export { describe, fail, ok } from './task/parsed';
export type { Parsed } from './task/parsed';
export * from './task/infra';
export * from './task/accelerators';
export * from './task/values';
/** The suggestion helper, re-exported for callers that only import resources. */
export { nearest } from './suggest';
