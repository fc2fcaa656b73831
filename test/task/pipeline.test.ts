/**
 * Pipelines (several YAML documents in one task file): the header, each task parsed as a task,
 * issues at the line of the whole file, and single-document files parsed exactly as before.
 */
import { formatIssue, parseTask, parseTaskFile, pipelineNames, splitDocuments } from '../../core/task';
import type { PipelineSpec, TaskFile } from '../../core/task';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from '../helpers/skyrun';
import { rejection } from '../helpers/task';

const PIPELINE = [
  '# a pipeline: train, then evaluate', // 1
  'name: train-eval', // 2
  '---', // 3
  'name: train', // 4
  'resources:', // 5
  '  cpus: 2+', // 6
  '  job_recovery: {max_restarts_on_errors: 2}', // 7
  'run: echo train', // 8
  '---', // 9
  'resources:', // 10
  '  accelerators: T4:1', // 11
  'envs: {MODEL: small}', // 12
  'run: echo eval $MODEL', // 13
  '',
].join('\n');

function pipeline(f: TaskFile): PipelineSpec {
  if (f.kind !== 'pipeline') throw new Error(`expected a pipeline, got ${f.kind}`);
  return f.pipeline;
}

test('a header and two tasks: the name, each task as parseTask reads it, in order', () => {
  const p = pipeline(parseTaskFile(PIPELINE, 'p.yaml'));
  expect(p.name).toBe('train-eval');
  expect(p.tasks).toHaveLength(2);
  expect(p.tasks[0]!.name).toBe('train');
  expect(p.tasks[0]!.run).toBe('echo train');
  expect(p.tasks[0]!.candidates[0]!.jobRecovery?.maxRestartsOnErrors).toBe(2);
  expect(p.tasks[1]!.name).toBeUndefined();
  expect(p.tasks[1]!.candidates[0]!.accelerator).toMatchObject({ name: 'T4', count: 1 });
  expect(p.tasks[1]!.envs).toEqual({ MODEL: 'small' });
  // the names it runs under: the header's, and <job>-<index> for a task without one
  expect(pipelineNames(p)).toEqual({ job: 'train-eval', tasks: ['train', 'train-eval-1'] });
  expect(pipelineNames(p, 'nightly')).toEqual({ job: 'nightly', tasks: ['train', 'nightly-1'] });
});

test('an issue in the second task is reported at its line in the whole file', () => {
  const bad = PIPELINE.replace('  accelerators: T4:1', '  accelerators: T4:x');
  const err = rejection(() => parseTaskFile(bad, 'p.yaml'));
  expect(err.issues).toHaveLength(1);
  expect(err.issues[0]).toMatchObject({ file: 'p.yaml', line: 11, column: 17, field: 'resources.accelerators' });
  expect(err.message).toContain('p.yaml:11:17: resources.accelerators');
});

test('issues of every task are listed at once, in file order (YAML syntax too)', () => {
  const text = ['name: p', '---', 'run: echo a', 'runn: x', '---', 'resources: {cpus: [}', 'run: b', ''].join('\n');
  const err = rejection(() => parseTaskFile(text, 'p.yaml'));
  expect(err.issues.map((i) => i.line)).toEqual([4, ...err.issues.slice(1).map(() => 6)]);
  expect(formatIssue(err.issues[0]!)).toContain("unknown field 'runn'");
  expect(err.issues[1]!.message).toMatch(/invalid YAML/);
});

test('a pipeline with an invalid task: the others parse but nothing is returned', () => {
  const text = ['name: p', '---', 'run: echo a', '---', 'num_nodes: 0', 'run: b', '---', 'run: c', ''].join('\n');
  const err = rejection(() => parseTaskFile(text, 'p.yaml'));
  expect(err.issues).toHaveLength(1);
  expect(err.issues[0]).toMatchObject({ line: 5, field: 'num_nodes' });
});

test('without a header every document is a task (SkyPilot: a first document with more than name)', () => {
  const text = ['name: a', 'run: echo a', '---', 'name: b', 'run: echo b', ''].join('\n');
  const p = pipeline(parseTaskFile(text, 'p.yaml'));
  expect(p.name).toBeUndefined();
  expect(p.tasks.map((t) => t.name)).toEqual(['a', 'b']);
  expect(pipelineNames(p).job).toBe('a');
});

test('the header: execution serial is accepted; parallel (a job group) and bad names are refused at their line', () => {
  const serial = ['name: p', 'execution: serial', '---', 'run: a', '---', 'run: b', ''].join('\n');
  expect(pipeline(parseTaskFile(serial, 'p.yaml')).name).toBe('p');
  const parallel = serial.replace('serial', 'parallel');
  const e1 = rejection(() => parseTaskFile(parallel, 'p.yaml'));
  expect(e1.issues[0]).toMatchObject({ line: 2, field: 'execution' });
  expect(e1.message).toContain('job group');
  const e2 = rejection(() => parseTaskFile(serial.replace('name: p', 'name: bad name'), 'p.yaml'));
  expect(e2.issues[0]).toMatchObject({ line: 1, field: 'name' });
});

test('a header and one task is that task, named after the header (as SkyPilot)', () => {
  const f = parseTaskFile(['name: solo', '---', 'name: inner', 'run: echo hi', ''].join('\n'), 'p.yaml');
  expect(f.kind).toBe('task');
  if (f.kind === 'task') expect(f.task.name).toBe('solo');
});

test('a single document (with or without ---, comments, empty documents) parses exactly as parseTask does', () => {
  for (const text of [
    'name: x\nrun: echo hi\n',
    '---\nname: x\nrun: echo hi\n',
    '# c\n---\nname: x\nrun: echo hi\n---\n# nothing\n',
    '%YAML 1.2\n---\nname: x\nrun: echo hi\n',
  ]) {
    const f = parseTaskFile(text, 't.yaml');
    expect(f.kind).toBe('task');
    if (f.kind === 'task' && !text.includes('# nothing')) expect(f.task).toEqual(parseTask(text, 't.yaml'));
    if (f.kind === 'task') expect(f.task.run).toBe('echo hi');
  }
});

test('--- inside a block scalar is indented, so it never splits a document', () => {
  expect(splitDocuments('run: |\n  echo a\n  ---\n  echo b\n')).toHaveLength(1);
  expect(splitDocuments('a: 1\n---\nb: 2\n--- # third\nc: 3\n').map((c) => c.line)).toEqual([1, 2, 4]);
});

test("the README's example pipeline (examples/pipeline.yaml) parses as a pipeline of two tasks", () => {
  const file = path.join(REPO, 'examples', 'pipeline.yaml');
  const p = pipeline(parseTaskFile(readFileSync(file, 'utf8'), file));
  expect(pipelineNames(p)).toEqual({ job: 'prepare-then-report', tasks: ['prepare', 'report'] });
});
