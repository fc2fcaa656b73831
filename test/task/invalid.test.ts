import * as fs from 'fs';
import * as path from 'path';
import { formatIssue, parseTask } from '../../core/task';
import { rejection } from '../helpers/task';

// Every file under test/task/invalid/ is a broken task whose first line says
// what is expected: `# expect: <line>: <message fragment>` (or without <line>).
const dir = path.join(__dirname, '../../../test/task/invalid');
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

function expectation(text: string): { line?: number; fragment: string } {
  const first = text.split('\n')[0];
  const m = /^# expect: (?:(\d+): )?(.+)$/.exec(first);
  if (!m) throw new Error(`first line must be "# expect: [line: ]fragment", got ${JSON.stringify(first)}`);
  return { line: m[1] === undefined ? undefined : Number(m[1]), fragment: m[2] };
}

describe('invalid task files', () => {
  it('has at least 35 fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(35);
  });

  it.each(files)('%s is rejected with the expected issue', (name) => {
    const file = path.join(dir, name);
    const text = fs.readFileSync(file, 'utf8');
    const want = expectation(text);
    const err = rejection(() => parseTask(text, file));
    expect(err.issues.length).toBeGreaterThan(0);
    expect(err.message).toContain(file);
    for (const issue of err.issues) {
      expect(issue.file).toBe(file);
      expect(err.message).toContain(formatIssue(issue));
    }
    const match = err.issues.find(
      (i) => formatIssue(i).includes(want.fragment) && (want.line === undefined || i.line === want.line),
    );
    if (!match) {
      throw new Error(
        `no issue at line ${want.line ?? '?'} containing ${JSON.stringify(want.fragment)}; got:\n${err.message}`,
      );
    }
    expect(match.line).toBeDefined();
    expect(match.column).toBeDefined();
  });
});

describe('issue reporting', () => {
  it('lists every issue, not just the first, sorted by line', () => {
    const text = [
      'name: bad name',
      'num_nodes: 0',
      'resources:',
      '  accelerators: A100:x',
      '  cpus: abc',
      '  clod: aws',
      'runn: echo',
    ].join('\n');
    const err = rejection(() => parseTask(text, 'multi.yaml'));
    expect(err.issues.map((i) => [i.line, i.field])).toEqual([
      [1, 'name'],
      [2, 'num_nodes'],
      [4, 'resources.accelerators'],
      [5, 'resources.cpus'],
      [6, 'resources.clod'],
      [7, 'runn'],
    ]);
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/^multi\.yaml:1:7: name: /);
    expect(lines[4]).toBe(
      "multi.yaml:6:3: resources.clod: unknown field 'clod'; did you mean 'cloud'? expected one of the resources fields: " +
        'infra, cloud, region, zone, accelerators, accelerator_args, cpus, memory, instance_type, use_spot, spot_recovery, ' +
        'job_recovery, disk_size, disk_tier, network_tier, ports, image_id, labels, autostop, any_of, ordered, priority, ' +
        'max_hourly_cost, volumes, local_disk, ephemeral_storage, priority_class, gpus',
    );
  });

  it('points at the value for bad values and at the key for unknown fields', () => {
    const text = 'run: echo\nresources:\n  disk_size:    huge\n  acclerators: T4\n';
    const { issues } = rejection(() => parseTask(text, 't.yaml'));
    expect(issues[0]).toMatchObject({ line: 3, column: 17, field: 'resources.disk_size' });
    expect(issues[1]).toMatchObject({ line: 4, column: 3, field: 'resources.acclerators' });
    expect(issues[1].message).toContain("did you mean 'accelerators'?");
  });

  it('formats issues without a position as file: field: message', () => {
    expect(formatIssue({ file: 'a.yaml', field: '--gpus', message: 'bad' })).toBe('a.yaml: --gpus: bad');
    expect(formatIssue({ file: 'a.yaml', line: 3, column: 5, field: 'run', message: 'bad' })).toBe(
      'a.yaml:3:5: run: bad',
    );
  });

  it('reports YAML syntax errors with line and column', () => {
    const err = rejection(() => parseTask('run: echo\nresources: {cpus: 4\n', 's.yaml'));
    expect(err.issues[0].field).toBe('yaml');
    expect(err.issues[0].line).toBeGreaterThanOrEqual(2);
    expect(err.message).toMatch(/^s\.yaml:\d+:\d+: yaml: invalid YAML: /);
  });
});

describe('bounds', () => {
  it('keeps every issue but prints the first 20 and a count', () => {
    const text = 'run: echo\n' + Array.from({ length: 50 }, (_, i) => `k${i}: 1\n`).join('');
    const err = rejection(() => parseTask(text, 'many.yaml'));
    expect(err.issues).toHaveLength(50);
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(21);
    expect(lines[20]).toBe('... and 30 more problems');
  });

  it('reports a key given many times once, with the count', () => {
    const text = 'run: echo\n' + 'setup: x\n'.repeat(1000);
    const issues = rejection(() => parseTask(text, 'dup.yaml')).issues;
    expect(issues).toHaveLength(1);
    expect(formatIssue(issues[0])).toBe(
      "dup.yaml:3:1: setup: duplicate key 'setup' (first given at line 2, given 1000 times); give each field once",
    );
  });
});
