// parseTask: reads the document, runs the field parsers, and reports every
// issue found at once in one TaskValidationError (each with the line and column
// of the offending node: the key for unknown fields, the value for bad values).

import { parseTaskFields, TASK_FIELDS } from './fields';
import type { TaskDraft } from './fields';
import { defaultResources, parseResources } from './resource-fields';
import type { TaskSpec } from './types';
import { TaskValidationError } from './types';
import { scriptTooBig } from './input';
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
  const draft: TaskDraft = { spec: emptySpec(file), resourcesNode: null };
  parseTaskFields(ctx, root, draft);
  const { spec } = draft;
  const res = parseResources(ctx, draft.resourcesNode);
  spec.candidates = res.candidates;
  spec.ordered = res.ordered;
  checkEnvSecretClash(ctx, spec);
  throwIfIssues(ctx.issues);
  setPositions(spec, ctx.positions);
  return spec;
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
