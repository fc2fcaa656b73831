// Task YAML: types, parser/validator, CLI overrides, launch checks and env
// substitution. Pure TypeScript (plus the `yaml` package); no Node built-ins, so
// it is safe to import from Temporal workflows.
//
// The accepted YAML is SkyPilot's task spec (see reference/skypilot.md §1).
// The modules, by concern:
//   types.ts           TaskSpec, Resources, TaskIssue, TaskValidationError, names
//   yaml.ts            reading the document, node positions, the issue list
//   fields.ts          the top-level fields (a table of small parsers)
//   resource-fields.ts the resources fields (a table of small parsers), any_of/ordered
//   parse.ts           parseTask, taskFromCommand
//   pipeline.ts        parseTaskFile: one task, or a pipeline of several YAML documents
//   overrides.ts       CLI flags (TASK_FLAGS) and applyOverrides
//   launch-checks.ts   checkLaunchable
//   env.ts             expandEnvRefs, substituteEnvs, redactSecrets
//   input.ts           bounds on input: file size, UTF-8, scripts, decimal whole numbers
//   yaml-bounds.ts     YAML nesting, aliases, decimal-only numbers
// and the value forms, imported by most callers through ../resources.ts:
//   parsed.ts          Parsed<T> and the helpers the value parsers share
//   infra.ts           clouds, infra strings, region / zone
//   accelerators.ts    accelerator names, counts and forms
//   values.ts          quantities, ports, disk size, tiers, autostop, job recovery

export * from './types';
export { STORAGE_MODES, STORAGE_STORES, TASK_FIELDS } from './fields';
export { RESOURCE_FIELDS } from './resource-fields';
export { parseTask, taskFromCommand } from './parse';
export { TASK_FLAGS, applyOverrides, flagAttribute, overridesFromFlags } from './overrides';
export type { TaskFlag, TaskOverrides } from './overrides';
export { checkLaunchable, hasWork } from './launch-checks';
export { expandEnvRefs, redactSecrets, substituteEnvs } from './env';
export * from './input';
export { readDocument, checkWholeNumbers, entries, unknownField, scalarString } from './yaml';
export type { Ctx, DocKind, Entry } from './yaml';
export { PIPELINE_HEADER_FIELDS, parseTaskFile, pipelineNames, splitDocuments } from './pipeline';
export type { PipelineSpec, TaskFile } from './pipeline';
