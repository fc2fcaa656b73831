// parseTask: reads the document, runs the field parsers, and reports every
// issue found at once in one TaskValidationError (each with the line and column
// of the offending node: the key for unknown fields, the value for bad values).

import { parseTaskFields, TASK_FIELDS } from './fields';
import type { TaskDraft } from './fields';
import { defaultResources, parseResources } from './resource-fields';
import type { KubePodSpec, TaskSpec } from './types';
import { podConfigIssues, taskPodConfig, volumeIssues } from '../kube-pods';
import { TaskValidationError } from './types';
import { scriptTooBig } from './input';
import { checkConfig } from '../config-file';
import type { Ctx } from './yaml';
import { readDocument, setPositions, throwIfIssues } from './yaml';

function emptySpec(file: string): TaskSpec {
  return { file, numNodes: 1, candidates: [], ordered: false, envs: {}, secrets: {}, fileMounts: {} };
}

/** Parses and validates task YAML. Throws TaskValidationError listing every issue found. */
export function parseTask(text: string, file: string): TaskSpec {
  const { ctx, root } = readDocument(text, file, {
    noun: 'task',
    fields: TASK_FIELDS,
    like: 'resources, setup and run',
  });
  const draft: TaskDraft = { spec: emptySpec(file), resourcesNode: null, secretRefs: [] };
  parseTaskFields(ctx, root, draft);
  const { spec } = draft;
  for (const name of draft.secretRefs) if (!Object.hasOwn(spec.secrets, name)) spec.secrets[name] = null;
  const res = parseResources(ctx, draft.resourcesNode);
  spec.candidates = res.candidates;
  spec.ordered = res.ordered;
  const kube = kubePodSpec(spec);
  if (kube) for (const r of spec.candidates) r.kubernetes = kube;
  checkEnvSecretClash(ctx, spec);
  if (spec.config) checkTaskConfig(ctx, spec.config);
  throwIfIssues(ctx.issues);
  if (ctx.warnings.length) spec.warnings = ctx.warnings;
  setPositions(spec, ctx.positions);
  return spec;
}

/**
 * The task's Kubernetes pod settings, copied to every candidate so that the optimizer (volumes:
 * kubernetes offers only) and the provisioning of whichever offer wins see them. Only well-formed
 * entries are carried; checkLaunchable reports the others.
 */
function kubePodSpec(spec: TaskSpec): KubePodSpec | undefined {
  const out: KubePodSpec = {};
  if (spec.volumes && !volumeIssues(spec.volumes).length) out.volumes = spec.volumes as Record<string, string>;
  const podConfig = taskPodConfig(spec.config);
  if (podConfig !== undefined && !podConfigIssues(podConfig, 'config.kubernetes.pod_config').length)
    out.podConfig = podConfig as Record<string, unknown>;
  return out.volumes || out.podConfig ? out : undefined;
}

/**
 * The task's `config:` (SkyPilot's per-task override of its config file): the same keys as the
 * config file (core/config-file.ts); a bad value SkyRun acts on is an issue, the rest warnings.
 */
function checkTaskConfig(ctx: Ctx, config: Record<string, unknown>): void {
  checkConfig(config, (kind, path, message) => {
    const field = ['config', ...path].join('.');
    const node = ctx.doc.getIn(['config', ...path], true) ?? ctx.doc.getIn(['config'], true);
    if (kind === 'issue') ctx.add(node, field, message);
    else ctx.warn(node, field, message);
  });
}

/** A name given in both envs and secrets. */
function checkEnvSecretClash(ctx: Ctx, spec: TaskSpec): void {
  for (const name of Object.keys(spec.secrets)) {
    if (Object.prototype.hasOwnProperty.call(spec.envs, name)) {
      const p = ctx.positions.get(`secrets.${name}`);
      ctx.issues.push({
        file: ctx.file,
        ...(p ? { line: p.line, column: p.column } : {}),
        field: `secrets.${name}`,
        message: `'${name}' is in both envs and secrets; give it in one of them only`,
      });
    }
  }
}

/** A task for `skyrun launch -- <command>`: run = cmd, defaults otherwise. */
export function taskFromCommand(cmd: string, file = '<command line>'): TaskSpec {
  const big = scriptTooBig(cmd);
  if (big) throw new TaskValidationError([{ file, field: 'run', message: big }]);
  const spec = emptySpec(file);
  spec.candidates = [defaultResources()];
  if (cmd.trim() !== '') spec.run = cmd;
  return spec;
}
