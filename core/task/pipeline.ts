// Managed-job pipelines: a task file of several YAML documents (SkyPilot's chain DAG, see
// reference/skypilot-serve-api-storage.md §4). The first document is a header when its only
// fields are `name` and optionally `execution: serial`; every other document is a task, parsed
// by parseTask. Issues carry the line of the whole file, not of their document. A file of one
// document is parsed by parseTask exactly as before. Pure TypeScript, bundle-safe.

import { parseTask } from './parse';
import { describe } from './parsed';
import { TaskValidationError } from './types';
import type { TaskIssue, TaskSpec } from './types';
import { validateName } from '../names';
import { entries, readDocument, throwIfIssues } from './yaml';

/** The fields a pipeline's header document may hold (SkyPilot's `_load_chain_dag`). */
export const PIPELINE_HEADER_FIELDS = ['name', 'execution'] as const;

export interface PipelineSpec {
  file: string;
  /** the header's name; undefined without a header */
  name?: string;
  /** two or more tasks, run in this order */
  tasks: TaskSpec[];
}

/** What a task file holds: one task (as today), or a pipeline of several. */
export type TaskFile = { kind: 'task'; task: TaskSpec } | { kind: 'pipeline'; pipeline: PipelineSpec };

/** One YAML document of a file: its text, and the line (1-based) it starts on. */
interface Chunk {
  text: string;
  line: number;
}

/** A `---` line at column 0 always starts a document (YAML's c-forbidden: never inside a scalar). */
const DOC_START = /^---(?=\s|$)/;
/** A line that holds nothing of a document: blank, a comment, a directive, a bare marker. */
const NOTHING = /^(?:\s*(?:#.*)?|%.*|(?:---|\.\.\.)(?:\s+(?:#.*)?)?)$/;

/** The documents of `text` that hold something, each with the line it starts on. */
export function splitDocuments(text: string): Chunk[] {
  const lines = text.split('\n');
  const chunks: Chunk[] = [];
  let start = 0;
  const flush = (end: number): void => {
    const part = lines.slice(start, end);
    if (part.some((l) => !NOTHING.test(l.replace(/\r$/, '')))) chunks.push({ text: part.join('\n'), line: start + 1 });
  };
  for (let i = 1; i < lines.length; i++) {
    if (!DOC_START.test(lines[i])) continue;
    // directives and comments before the first `---` belong to the first document
    if (chunks.length > 0 || lines.slice(start, i).some((l) => !NOTHING.test(l.replace(/\r$/, '')))) {
      flush(i);
      start = i;
    }
  }
  flush(lines.length);
  return chunks;
}

/** The chunk's text at its own lines: parsers then report lines of the whole file. */
function atItsLines(c: Chunk): string {
  return '\n'.repeat(c.line - 1) + c.text;
}

/** The header's name when the chunk is a pipeline header, undefined when it is a task. */
function readHeader(c: Chunk, file: string): { name: string } | undefined {
  const { ctx, root } = readDocument(atItsLines(c), file, {
    noun: 'pipeline',
    fields: PIPELINE_HEADER_FIELDS,
    like: 'name',
  });
  const fields = entries(ctx, root, '');
  const keys = fields.map((e) => e.key);
  if (!keys.includes('name') || keys.some((k) => !(PIPELINE_HEADER_FIELDS as readonly string[]).includes(k))) {
    return undefined;
  }
  let name = '';
  for (const e of fields) {
    const v = ctx.js(e.value);
    if (e.key === 'name') {
      const bad =
        typeof v !== 'string' ? `expected a name string like "train-eval", got ${describe(v)}` : validateName(v);
      if (bad) ctx.add(e.value ?? e.keyNode, 'name', `pipeline name: ${bad}`);
      else name = v as string;
    } else if (v === 'parallel') {
      ctx.add(
        e.value,
        'execution',
        'parallel (a SkyPilot job group) is not supported; a pipeline runs its tasks in order: use serial or leave execution out',
      );
    } else if (v !== 'serial' && v !== null) {
      ctx.add(e.value, 'execution', `expected serial (a pipeline runs its tasks in order), got ${describe(v)}`);
    }
  }
  throwIfIssues(ctx.issues);
  return { name };
}

/**
 * Parses a task file of one or more YAML documents. Throws TaskValidationError listing every issue
 * of every document (lines of the whole file). A header with one task gives that task, named after
 * the header (as SkyPilot names a one-task DAG).
 */
export function parseTaskFile(text: string, file: string): TaskFile {
  const chunks = splitDocuments(text);
  // one document (a file without `---` is its own only chunk, so it parses as before)
  if (chunks.length <= 1) return { kind: 'task', task: parseTask(chunks[0] ? atItsLines(chunks[0]) : text, file) };
  const issues: TaskIssue[] = [];
  const guard = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof TaskValidationError)) throw e;
      issues.push(...e.issues);
      return undefined;
    }
  };
  const header = guard(() => readHeader(chunks[0]!, file));
  const taskChunks = header || issues.length ? chunks.slice(1) : chunks;
  const tasks = taskChunks.map((c) => guard(() => parseTask(atItsLines(c), file)));
  throwIfIssues(issues);
  const specs = tasks as TaskSpec[];
  if (specs.length === 1) {
    if (header?.name) specs[0]!.name = header.name;
    return { kind: 'task', task: specs[0]! };
  }
  return { kind: 'pipeline', pipeline: { file, ...(header?.name ? { name: header.name } : {}), tasks: specs } };
}

/**
 * The names a pipeline runs under: the job's (`name` given on the command line, else the header's,
 * else the first task's, else "pipeline"), and each task's (its own, else `<job>-<index>`).
 */
export function pipelineNames(p: PipelineSpec, name?: string): { job: string; tasks: string[] } {
  const job = name ?? p.name ?? p.tasks[0]?.name ?? 'pipeline';
  return { job, tasks: p.tasks.map((t, i) => t.name ?? `${job}-${i}`) };
}
