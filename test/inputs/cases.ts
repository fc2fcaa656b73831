/**
 * The table of invalid inputs the CLI must refuse (inputs.test.ts runs each with the real CLI):
 * argv, the exit code, and the first line of stderr (a string it starts with, or a regex). Paths
 * in argv: `@files/NAME` is test/inputs/files/NAME, `@invalid/NAME` test/task/invalid/NAME, and
 * `@gen/NAME` a file GENERATED writes at test time (big or binary files are not committed).
 * `sim`: a sim.yaml in SKYRUN_HOME before the run, which must be left as it was.
 *
 * size: a data table (one entry per invalid input), read top to bottom.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from '../helpers/skyrun';
import { NAME_MAX } from '../../core/names';

export interface Case {
  name: string;
  argv: string[];
  code: number;
  first: string | RegExp;
  /** the last line of stderr, when it matters (the count of problems not printed) */
  last?: RegExp;
  sim?: string;
  env?: Record<string, string>;
}

const line = (n: number, text: string) => `run: echo\n${text.repeat(n)}`;

/** Files written at test time: name -> content (a directory when null, a FIFO when 'fifo'). */
export const GENERATED: Record<string, () => string | Buffer | null | 'fifo'> = {
  // billion laughs: 9^7 strings from a 700-byte file
  'alias-bomb.yaml': () => {
    let s = 'run: echo\nconfig:\n  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    for (const [k, prev] of [...'bcdefg'].map((c, i) => [c, 'abcdefg'[i]])) {
      s += `  ${k}: &${k} [${Array(9).fill(`*${prev}`).join(',')}]\n`;
    }
    return s;
  },
  'aliases-150.yaml': () =>
    `run: echo\nconfig:\n  a: &a 1\n${Array.from({ length: 150 }, (_, i) => `  k${i}: *a\n`).join('')}`,
  'unknown-20k.yaml': () => line(1, '') + Array.from({ length: 20000 }, (_, i) => `key${i}: 1\n`).join(''),
  'duplicates-50mb.yaml': () => line((50 * 1024 * 1024) / 5, 'a: 1\n'),
  'duplicates-20k.yaml': () => line(20000, 'a: 1\n'),
  'run-3mb.yaml': () =>
    `run: |\n${'  echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n'.repeat(40000)}`,
  'run-300k.yaml': () => `run: |\n${`  echo ${'x'.repeat(93)}\n`.repeat(3000)}`,
  'setup-300k.yaml': () => `run: echo\nsetup: |\n${`  echo ${'x'.repeat(93)}\n`.repeat(3000)}`,
  'comment-2mb.yaml': () => `run: echo\n${'#'.repeat(2 * 1024 * 1024)}\n`,
  'deep-flow-100.yaml': () => `run: echo\nconfig: ${'['.repeat(100)}${']'.repeat(100)}\n`,
  'deep-flow-20k.yaml': () => `run: echo\nconfig: ${'['.repeat(20000)}${']'.repeat(20000)}\n`,
  'deep-block-70.yaml': () =>
    `run: echo\nconfig:\n${Array.from({ length: 70 }, (_, i) => `${' '.repeat(i + 1)}k:\n`).join('')}`,
  'long-value.yaml': () => `run: echo\nresources:\n  cpus: "${'x'.repeat(100_000)}"\n`,
  'nonutf8-run.yaml': () => Buffer.concat([Buffer.from('run: "echo '), Buffer.from([0xff, 0xfe]), Buffer.from('"\n')]),
  'nonutf8-line3.yaml': () =>
    Buffer.concat([Buffer.from('name: x\nrun: |\n  echo é'), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]),
  'latin1.yaml': () => Buffer.from('run: echo caf\xe9\n', 'latin1'),
  'utf16.yaml': () => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('run: echo\n', 'utf16le')]),
  'overlong.yaml': () => Buffer.concat([Buffer.from('run: echo '), Buffer.from([0xc0, 0xaf]), Buffer.from('\n')]),
  'surrogate.yaml': () =>
    Buffer.concat([Buffer.from('run: echo '), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('\n')]),
  'truncated.yaml': () => Buffer.concat([Buffer.from('run: echo '), Buffer.from([0xe2, 0x82])]),
  'sim-binary.yaml': () => Buffer.from([0x00, 0x01, 0xff, 0x7f, 0x80, 0x0a]),
  'sim-2mb.yaml': () => `catalog_cloud: aws\n${'#'.repeat(2 * 1024 * 1024)}\n`,
  'dir.yaml': () => null,
  'fifo.yaml': () => 'fifo',
};

const INVALID = path.join(REPO, 'test', 'task', 'invalid');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The fixtures of test/task/invalid, each with its `# expect: [line: ]fragment` as the first line. */
function invalidFixtures(): Case[] {
  return readdirSync(INVALID)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const m = /^# expect: (?:(\d+): )?(.+)$/.exec(readFileSync(path.join(INVALID, f), 'utf8').split('\n')[0])!;
      const file = path.join(INVALID, f);
      return {
        name: `task/invalid/${f}`,
        argv: ['launch', '--dryrun', `@invalid/${f}`],
        code: 2,
        first: new RegExp(`^${esc(file)}:${m[1] ?? '\\d+'}:\\d+: .*${esc(m[2])}`),
      };
    });
}

const dry = (...argv: string[]) => ['launch', '--dryrun', ...argv];
const cmd = (...flags: string[]) => dry(...flags, '--', 'echo', 'hi');
const CL = '<command line>';
const NAME = /^invalid cluster name: expected a name of /;
const SIM = 'catalog_cloud: gcp\n';

/** name, argv, exit code, first line of stderr. */
const TABLE: Array<[string, string[], number, string | RegExp, Partial<Case>?]> = [
  // the tester's findings
  ['directory as task file', dry('@gen/dir.yaml'), 2, /: is a directory, not a task file$/],
  [
    'alias bomb',
    dry('@gen/alias-bomb.yaml'),
    2,
    /alias-bomb\.yaml:\d+:\d+: yaml: YAML aliases expand to too much data/,
  ],
  [
    'non-UTF-8 in run',
    dry('@gen/nonutf8-run.yaml'),
    2,
    /nonutf8-run\.yaml:1:12: file: not valid UTF-8 text \(byte 0xff\)/,
  ],
  ['--num-nodes 0x10', cmd('--num-nodes', '0x10'), 2, `${CL}: --num-nodes: expected a positive integer, got "0x10"`],
  ['jobs cancel abc', ['jobs', 'cancel', 'abc'], 2, /^invalid managed job id: .*got "abc"$/],
  [
    'sim enable garbage',
    ['sim', 'enable', '@files/sim-garbage.yaml'],
    2,
    /sim-garbage\.yaml:\d+:\d+: yaml: invalid YAML/,
    { sim: SIM },
  ],
  ['3 MB run', dry('@gen/run-3mb.yaml'), 2, /run-3mb\.yaml: file: the file is \d+ bytes; at most 1048576/],
  [
    '20k unknown keys',
    dry('@gen/unknown-20k.yaml'),
    2,
    /unknown-20k\.yaml:2:1: key0: unknown field 'key0'/,
    { last: /^\.\.\. and 19980 more problems$/ },
  ],
  [
    '50 MB of duplicate keys',
    dry('@gen/duplicates-50mb.yaml'),
    2,
    /duplicates-50mb\.yaml: file: the file is \d+ bytes/,
  ],
  // files that cannot be read as a task
  ['missing file', dry('@gen/missing.yaml'), 2, /missing\.yaml: no such task file$/],
  ['FIFO', dry('@gen/fifo.yaml'), 2, /fifo\.yaml: is not a regular file/],
  ['character device', dry('/dev/zero'), 2, '/dev/zero: is not a regular file; a task file must be one'],
  ['unreadable file', dry('/proc/self/mem'), 2, /^\/proc\/self\/mem: cannot read the task file \(E\w+\)$/],
  ['file under a file', dry('@files/num-nodes-hex.yaml/x.yaml'), 2, /num-nodes-hex\.yaml\/x\.yaml: no such task file$/],
  ['2 MB of comments', dry('@gen/comment-2mb.yaml'), 2, /comment-2mb\.yaml: file: the file is \d+ bytes/],
  ['20k duplicate keys', dry('@gen/duplicates-20k.yaml'), 2, /duplicates-20k\.yaml:2:1: a: unknown field 'a'/],
  [
    'run over 256 KiB',
    dry('@gen/run-300k.yaml'),
    2,
    /run-300k\.yaml:1:6: run: the script is \d+ bytes; at most 262144/,
  ],
  ['setup over 256 KiB', dry('@gen/setup-300k.yaml'), 2, /setup-300k\.yaml:2:8: setup: the script is \d+ bytes/],
  ['150 aliases', dry('@gen/aliases-150.yaml'), 2, /aliases-150\.yaml:\d+:\d+: yaml: more than 100 YAML aliases/],
  [
    'unresolved alias',
    dry('@files/alias-unresolved.yaml'),
    2,
    /alias-unresolved\.yaml:1:6: yaml: alias \*nope has no anchor/,
  ],
  [
    'recursive alias',
    dry('@files/alias-recursive.yaml'),
    2,
    /alias-recursive\.yaml:1:\d+: yaml: alias \*a is inside the node it names/,
  ],
  [
    'nesting 100 deep',
    dry('@gen/deep-flow-100.yaml'),
    2,
    /deep-flow-100\.yaml:2:\d+: yaml: mappings and lists nested deeper than 64 levels/,
  ],
  [
    'nesting 20000 deep',
    dry('@gen/deep-flow-20k.yaml'),
    2,
    /deep-flow-20k\.yaml:2:\d+: yaml: .*nested deeper than 64 levels/,
  ],
  [
    'block nesting 70 deep',
    dry('@gen/deep-block-70.yaml'),
    2,
    /deep-block-70\.yaml:\d+:\d+: yaml: mappings and lists nested deeper/,
  ],
  [
    '100k-character value',
    dry('@gen/long-value.yaml'),
    2,
    /long-value\.yaml:3:9: resources\.cpus: .*got "x+… \(\d+ more characters\)$/,
  ],
  [
    'bad UTF-8 on line 3',
    dry('@gen/nonutf8-line3.yaml'),
    2,
    /nonutf8-line3\.yaml:3:9: file: not valid UTF-8 text \(byte 0xc3\)/,
  ],
  ['Latin-1 file', dry('@gen/latin1.yaml'), 2, /latin1\.yaml:1:14: file: not valid UTF-8 text \(byte 0xe9\)/],
  ['UTF-16 file', dry('@gen/utf16.yaml'), 2, /utf16\.yaml:1:1: file: not valid UTF-8 text \(byte 0xff\)/],
  ['overlong UTF-8', dry('@gen/overlong.yaml'), 2, /overlong\.yaml:1:11: file: not valid UTF-8 text \(byte 0xc0\)/],
  ['UTF-8 surrogate', dry('@gen/surrogate.yaml'), 2, /surrogate\.yaml:1:11: file: not valid UTF-8 text \(byte 0xed\)/],
  ['truncated UTF-8', dry('@gen/truncated.yaml'), 2, /truncated\.yaml:1:11: file: not valid UTF-8 text \(byte 0xe2\)/],
  [
    'two YAML documents (a pipeline: only jobs launch runs it)',
    dry('@files/two-documents.yaml'),
    2,
    /two-documents\.yaml: a pipeline of 2 tasks .*skyrun jobs launch /,
  ],
  [
    'key with a newline',
    dry('@files/key-with-newline.yaml'),
    2,
    /key-with-newline\.yaml:2:1: bad\\nkey: unknown field 'bad\\nkey'/,
  ],
  // numbers: plain decimal only where a whole number is expected
  [
    'num_nodes: 0x10',
    dry('@files/num-nodes-hex.yaml'),
    2,
    /num-nodes-hex\.yaml:1:12: num_nodes: expected a positive integer, got "0x10"/,
  ],
  [
    'num_nodes: 2.0',
    dry('@files/num-nodes-float.yaml'),
    2,
    /num-nodes-float\.yaml:1:12: num_nodes: expected a whole number in decimal digits \(like 8\), got 2\.0/,
  ],
  [
    'num_nodes: 1e1',
    dry('@files/num-nodes-exp.yaml'),
    2,
    /num-nodes-exp\.yaml:1:12: num_nodes: expected a positive integer, got "1e1"/,
  ],
  [
    'num_nodes: 0o17',
    dry('@files/num-nodes-octal.yaml'),
    2,
    /num-nodes-octal\.yaml:1:12: num_nodes: expected a positive integer, got "0o17"/,
  ],
  [
    'num_nodes: 1001',
    dry('@files/num-nodes-too-many.yaml'),
    2,
    /num-nodes-too-many\.yaml:1:12: .*\(at most 1000 nodes\)/,
  ],
  [
    'num_nodes: 10^20',
    dry('@files/num-nodes-huge.yaml'),
    2,
    /num-nodes-huge\.yaml:1:12: num_nodes: expected a whole number in decimal digits/,
  ],
  [
    'ports: 0x1F90',
    dry('@files/ports-hex.yaml'),
    2,
    /ports-hex\.yaml:3:10: resources\.ports: expected a port .*got "0x1F90"/,
  ],
  [
    'ports: 8081.0',
    dry('@files/ports-float.yaml'),
    2,
    /ports-float\.yaml:3:17: resources\.ports: expected a whole number in decimal digits/,
  ],
  [
    'disk_size: 1e3',
    dry('@files/disk-size-exp.yaml'),
    2,
    /disk-size-exp\.yaml:3:14: resources\.disk_size: expected a disk size .*got "1e3"/,
  ],
  [
    'disk_size: 256.0',
    dry('@files/disk-size-float.yaml'),
    2,
    /disk-size-float\.yaml:3:14: resources\.disk_size: expected a whole number/,
  ],
  [
    'disk_size: "1.5TB"',
    dry('@files/disk-size-fraction.yaml'),
    2,
    /disk-size-fraction\.yaml:3:14: resources\.disk_size: expected a disk size/,
  ],
  [
    'priority: 1.5',
    dry('@files/priority-float.yaml'),
    2,
    /priority-float\.yaml:3:13: resources\.priority: expected a whole number/,
  ],
  [
    'idle_minutes: 0o17',
    dry('@files/autostop-octal.yaml'),
    2,
    /autostop-octal\.yaml:4:19: resources\.autostop\.idle_minutes: .*got "0o17"/,
  ],
  [
    'max_restarts_on_errors: 2.0',
    dry('@files/job-recovery-float.yaml'),
    2,
    /job-recovery-float\.yaml:4:29: resources\.job_recovery: expected a whole number/,
  ],
  [
    'cpus: .inf',
    dry('@files/cpus-inf.yaml'),
    2,
    /cpus-inf\.yaml:3:9: resources\.cpus: expected a positive number of vCPUs .*got "\.inf"/,
  ],
  [
    'memory: .nan',
    dry('@files/memory-nan.yaml'),
    2,
    /memory-nan\.yaml:3:11: resources\.memory: expected a positive number of GiB .*got "\.nan"/,
  ],
  [
    'accelerators {A100: 0x8}',
    dry('@files/accelerators-hex-count.yaml'),
    2,
    /accelerators-hex-count\.yaml:3:\d+: resources\.accelerators\.A100: expected a positive number of A100/,
  ],
  ['run: 123', dry('@files/run-number.yaml'), 2, /run-number\.yaml:1:6: run: expected a shell script string/],
  [
    'name: 1abc',
    dry('@files/name-leading-digit.yaml'),
    2,
    /name-leading-digit\.yaml:1:7: name: expected a name of letters/,
  ],
  ['name: ../etc', dry('@files/name-dots.yaml'), 2, /name-dots\.yaml:1:7: name: expected a name of letters/],
  ['infra with four parts', dry('@files/infra-four-parts.yaml'), 2, /infra-four-parts\.yaml:3:10: resources\.infra: /],
  // task flags
  ['--num-nodes 1.5', cmd('--num-nodes', '1.5'), 2, `${CL}: --num-nodes: expected a positive integer, got "1.5"`],
  ['--num-nodes 2.0', cmd('--num-nodes', '2.0'), 2, `${CL}: --num-nodes: expected a positive integer, got "2.0"`],
  ['--num-nodes 1e2', cmd('--num-nodes', '1e2'), 2, `${CL}: --num-nodes: expected a positive integer, got "1e2"`],
  ['--num-nodes 0', cmd('--num-nodes', '0'), 2, `${CL}: --num-nodes: expected a positive integer, got "0"`],
  ['--num-nodes -1', cmd('--num-nodes', '-1'), 2, `${CL}: --num-nodes: expected a positive integer, got "-1"`],
  [
    '--num-nodes 10^20',
    cmd('--num-nodes', '99999999999999999999'),
    2,
    `${CL}: --num-nodes: expected a positive integer, got "99999999999999999999"`,
  ],
  ['--num-nodes 1001', cmd('--num-nodes', '1001'), 2, /^<command line>: --num-nodes: .*\(at most 1000 nodes\)$/],
  ['--num-nodes two', cmd('--num-nodes', 'two'), 2, `${CL}: --num-nodes: expected a positive integer, got "two"`],
  ['--cpus abc', cmd('--cpus', 'abc'), 2, /^<command line>: --cpus: expected a positive number of vCPUs .*got "abc"$/],
  ['--cpus 0x4', cmd('--cpus', '0x4'), 2, /^<command line>: --cpus: .*got "0x4"$/],
  ['--cpus -1', cmd('--cpus', '-1'), 2, /^<command line>: --cpus: .*got "-1"$/],
  ['--cpus empty', cmd('--cpus', ''), 2, /^<command line>: --cpus: .*got ""$/],
  ['--memory 1e3', cmd('--memory', '1e3'), 2, /^<command line>: --memory: .*got "1e3"$/],
  ['--memory 4x', cmd('--memory', '4x'), 2, /^<command line>: --memory: memory per vCPU \("4x"\) is not supported yet/],
  [
    '--gpus A100:0x8',
    cmd('--gpus', 'A100:0x8'),
    2,
    /^<command line>: --gpus: expected a positive number of A100 .*got "0x8"$/,
  ],
  ['--gpus :8', cmd('--gpus', ':8'), 2, /^<command line>: --gpus: expected an accelerator like/],
  ['--gpus A100:8:1', cmd('--gpus', 'A100:8:1'), 2, /^<command line>: --gpus: expected an accelerator like/],
  ['--gpus empty', cmd('--gpus', ''), 2, /^<command line>: --gpus: expected an accelerator like/],
  ['--env 1BAD=x', cmd('--env', '1BAD=x'), 2, /^<command line>: --env: invalid name '1BAD'/],
  ['--env =x', cmd('--env', '=x'), 2, /^<command line>: --env: =x: expected NAME=VALUE/],
  [
    '--env unset name',
    cmd('--env', 'SKYRUN_TEST_UNSET_VAR'),
    2,
    /^<command line>: --env: SKYRUN_TEST_UNSET_VAR: expected NAME=VALUE/,
  ],
  ['--env A-B=1', cmd('--env', 'A-B=1'), 2, /^<command line>: --env: invalid name 'A-B'/],
  ['--secret BAD NAME=1', cmd('--secret', 'BAD NAME=1'), 2, /^<command line>: --secret: invalid name 'BAD NAME'/],
  [
    '--secret unset name',
    cmd('--secret', 'SKYRUN_TEST_UNSET_SECRET'),
    2,
    /^<command line>: --secret: SKYRUN_TEST_UNSET_SECRET: expected NAME=VALUE/,
  ],
  ['--infra awz', cmd('--infra', 'awz'), 2, /^<command line>: --infra: unknown cloud 'awz'; did you mean 'aws'\?/],
  ['--infra with a space', cmd('--infra', 'aws/us-east-1/zone x'), 2, /^<command line>: --infra: /],
  ['--infra empty', cmd('--infra', ''), 2, /^<command line>: --infra: /],
  ['--infra four parts', cmd('--infra', 'aws/a/b/c'), 2, /^<command line>: --infra: /],
  ['--disk-size 1.5', cmd('--disk-size', '1.5'), 2, /^<command line>: --disk-size: expected a disk size .*got "1\.5"$/],
  ['--disk-size 0x100', cmd('--disk-size', '0x100'), 2, /^<command line>: --disk-size: .*got "0x100"$/],
  ['--disk-size 256MB', cmd('--disk-size', '256MB'), 2, /^<command line>: --disk-size: .*got "256MB"$/],
  ['--ports 0x50', cmd('--ports', '0x50'), 2, /^<command line>: --ports: expected a port .*got "0x50"$/],
  ['--ports 70000', cmd('--ports', '70000'), 2, /^<command line>: --ports: .*\(ports are 1-65535\)$/],
  ['--ports 80-70', cmd('--ports', '80-70'), 2, /^<command line>: --ports: .*\(the range starts after it ends\)$/],
  ['--name with a space', cmd('--name', 'bad name'), 2, /^<command line>: --name: expected a name of letters/],
  [
    '--instance-type with a space',
    cmd('--instance-type', 'p4d 24xlarge'),
    2,
    /^<command line>: --instance-type: expected an instance type/,
  ],
  ['-i abc', cmd('-i', 'abc'), 2, '-i "abc": expected idle minutes in decimal digits like 10 or 0.5 (0-1000000)'],
  ['-i 0x10', cmd('-i', '0x10'), 2, /^-i "0x10": expected idle minutes/],
  ['-i 1e3', cmd('-i', '1e3'), 2, /^-i "1e3": expected idle minutes/],
  ['-i -5', cmd('-i', '-5'), 2, /^-i "-5": expected idle minutes/],
  ['-i 99999999', cmd('-i', '99999999'), 2, /^-i "99999999": expected idle minutes/],
  ['-i Infinity', cmd('-i', 'Infinity'), 2, /^-i "Infinity": expected idle minutes/],
  ['unknown flag', cmd('--frobnicate'), 2, "error: unknown option '--frobnicate'"],
  ['unknown short flag', cmd('-Z'), 2, "error: unknown option '-Z'"],
  ['flag without its value', ['launch', '--dryrun', '--cpus'], 2, "error: option '--cpus <n>' argument missing"],
  ['unknown command', ['frobnicate'], 2, "error: unknown command 'frobnicate'"],
  ['no task', ['launch', '--dryrun'], 2, /^give a task YAML file, or a command after --/],
  // cluster names
  ['-c a/b', cmd('-c', 'a/b'), 2, NAME],
  ['-c ..', cmd('-c', '..'), 2, NAME],
  ['-c with a space', cmd('-c', 'my cluster'), 2, NAME],
  [
    '-c of 300 characters',
    cmd('-c', 'a'.repeat(300)),
    2,
    `invalid cluster name: expected a name of at most ${NAME_MAX} characters, got 300`,
  ],
  ['-c 1abc', cmd('-c', '1abc'), 2, NAME],
  ['-c -abc', ['launch', '--dryrun', '-c', '-abc', '--', 'echo'], 2, NAME],
  ['-c with a newline', cmd('-c', 'a\nb'), 2, /^invalid cluster name: .*got "a\\nb"$/],
  ['exec a/b', ['exec', 'a/b', '--', 'true'], 2, NAME],
  ['down "a b"', ['down', '-y', 'a b'], 2, NAME],
  ['stop ..', ['stop', '-y', '..'], 2, NAME],
  ['start 1abc', ['start', '-y', '1abc'], 2, NAME],
  [
    'queue 300 characters',
    ['queue', 'q'.repeat(300)],
    2,
    new RegExp(`^invalid cluster name: expected a name of at most ${NAME_MAX} `),
  ],
  ['status a/b', ['status', 'a/b'], 2, NAME],
  ['autostop bad/x', ['autostop', 'bad/x'], 2, NAME],
  ['logs ../etc', ['logs', '../etc', '1'], 2, NAME],
  ['cancel a/b', ['cancel', 'a/b', '1'], 2, NAME],
  ['ssh a/b', ['ssh', 'a/b'], 2, NAME],
  ['exec without a cluster', ['exec'], 2, "error: missing required argument 'cluster'"],
  ['logs without a cluster', ['logs'], 2, "error: missing required argument 'cluster'"],
  ['down without a cluster', ['down', '-y'], 2, "error: missing required argument 'clusters'"],
  // job ids
  ['jobs cancel -1', ['jobs', 'cancel', '--', '-1'], 2, /^invalid managed job id: .*got "-1"$/],
  ['jobs cancel 1.5', ['jobs', 'cancel', '1.5'], 2, /^invalid managed job id: .*got "1\.5"$/],
  ['jobs cancel 0x10', ['jobs', 'cancel', '0x10'], 2, /^invalid managed job id: .*got "0x10"$/],
  ['jobs cancel 0', ['jobs', 'cancel', '0'], 2, /^invalid managed job id: .*got "0" \(out of range\)$/],
  ['jobs cancel 10^20', ['jobs', 'cancel', '99999999999999999999'], 2, /^invalid managed job id: .*\(too large\)$/],
  ['jobs cancel nothing', ['jobs', 'cancel'], 2, 'no managed job to cancel (give IDs, -n NAME or -a)'],
  ['jobs logs abc', ['jobs', 'logs', 'abc'], 2, /^invalid managed job id: .*got "abc"$/],
  ['jobs logs 1e3', ['jobs', 'logs', '1e3'], 2, /^invalid managed job id: .*got "1e3"$/],
  [
    'logs CLUSTER abc',
    ['logs', 'c1', 'abc'],
    2,
    /^invalid job id: expected a job id as a whole number \(1-2147483647\) in decimal digits, got "abc"$/,
  ],
  ['logs CLUSTER -5', ['logs', 'c1', '-5'], 2, /^invalid job id: .*got "-5"$/],
  ['logs CLUSTER 2^31', ['logs', 'c1', '2147483648'], 2, /^invalid job id: .*\(out of range\)$/],
  ['cancel CLUSTER x', ['cancel', 'c1', 'x'], 2, /^invalid job id: .*got "x"$/],
  ['autostop -i abc', ['autostop', 'c1', '-i', 'abc'], 2, /^-i "abc": expected idle minutes .*or -1 to cancel\)$/],
  ['ssh --node abc', ['ssh', 'c1', '--node', 'abc'], 2, /^--node: expected a node rank as a whole number/],
  // sim enable: refused before anything is written, a previous config kept
  [
    'sim enable: unknown key',
    ['sim', 'enable', '@files/sim-unknown-key.yaml'],
    2,
    /sim-unknown-key\.yaml:2:1: capacity_error: unknown field 'capacity_error'; did you mean 'capacity_errors'\?/,
    { sim: SIM },
  ],
  [
    'sim enable: rate 2',
    ['sim', 'enable', '@files/sim-bad-rate.yaml'],
    2,
    /sim-bad-rate\.yaml:1:23: transient_error_rate: expected a fraction from 0 to 1, got 2$/,
    { sim: SIM },
  ],
  [
    'sim enable: 0x10',
    ['sim', 'enable', '@files/sim-hex.yaml'],
    2,
    /sim-hex\.yaml:1:18: create_delay_ms: expected a whole number >= 0, got "0x10"$/,
    { sim: SIM },
  ],
  [
    'sim enable: zone limit word',
    ['sim', 'enable', '@files/sim-zone-limits-word.yaml'],
    2,
    /sim-zone-limits-word\.yaml:2:3: zone_limits: expected a mapping of "region\/zone" to a whole number/,
    { sim: SIM },
  ],
  [
    'sim enable: a list',
    ['sim', 'enable', '@files/sim-list.yaml'],
    2,
    /sim-list\.yaml:1:1: sim config: expected a mapping of sim config fields/,
    { sim: SIM },
  ],
  [
    'sim enable: cloud name',
    ['sim', 'enable', '@files/sim-cloud-name.yaml'],
    2,
    /sim-cloud-name\.yaml:1:16: catalog_cloud: expected the name of a catalog cloud/,
    { sim: SIM },
  ],
  [
    'sim enable: comments only',
    ['sim', 'enable', '@files/sim-empty.yaml'],
    2,
    /sim-empty\.yaml:1:1: sim config: the sim config file is empty/,
    { sim: SIM },
  ],
  [
    'sim enable: negative',
    ['sim', 'enable', '@files/sim-negative.yaml'],
    2,
    /sim-negative\.yaml:1:18: max_preemptions: expected a whole number >= 0 \(or null\), got -1$/,
    { sim: SIM },
  ],
  [
    'sim enable: binary',
    ['sim', 'enable', '@gen/sim-binary.yaml'],
    2,
    /sim-binary\.yaml:1:3: file: not valid UTF-8 text \(byte 0xff\)/,
    { sim: SIM },
  ],
  [
    'sim enable: 2 MB',
    ['sim', 'enable', '@gen/sim-2mb.yaml'],
    2,
    /sim-2mb\.yaml: file: the file is \d+ bytes/,
    { sim: SIM },
  ],
  [
    'sim enable: directory',
    ['sim', 'enable', '@gen/dir.yaml'],
    2,
    /dir\.yaml: is a directory, not a sim config$/,
    { sim: SIM },
  ],
  [
    'sim enable: missing',
    ['sim', 'enable', '@gen/missing.yaml'],
    2,
    /missing\.yaml: no such sim config$/,
    { sim: SIM },
  ],
  [
    'sim enable: alias bomb',
    ['sim', 'enable', '@gen/alias-bomb.yaml'],
    2,
    /alias-bomb\.yaml:\d+:\d+: yaml: YAML aliases expand to too much data/,
    { sim: SIM },
  ],
  // docker images run only where containers do
  [
    'docker image on local infra',
    dry('@files/docker-on-local.yaml'),
    2,
    /docker-on-local\.yaml:3:3: resources\.image_id: docker images \(image_id: docker:\.\.\.\) need infra that runs containers \(aws, gcp, kubernetes, ssh\); local infra runs tasks as processes of this machine/,
  ],
  [
    'docker: without an image',
    dry('@files/docker-no-image.yaml'),
    2,
    /docker-no-image\.yaml:2:3: resources\.image_id: docker: names no image; expected docker:<image>/,
  ],
];

export const CASES: Case[] = [
  ...TABLE.map(([name, argv, code, first, extra]) => ({ name, argv, code, first, ...extra })),
  ...invalidFixtures(),
];
