/**
 * size: the parser API's tests, one describe per concern.
 */
import * as fs from 'fs';
import * as path from 'path';
import { addTaskFlags } from '../../client/commands/task-options';
import { Command, Option } from 'commander';
import {
  CLUSTER_NAME_RE,
  TASK_FLAGS,
  applyOverrides,
  checkLaunchable,
  hasWork,
  overridesFromFlags,
  parseTask,
  expandEnvRefs,
  redactSecrets,
  substituteEnvs,
  taskFromCommand,
  validateName,
} from '../../core/task';
import type { TaskOverrides } from '../../core/task';
import {
  canonicalAcceleratorName,
  formatInfra,
  parseAccelerators,
  parseAutostop,
  parseDiskSize,
  parseInfra,
  parseJobRecovery,
  parsePorts,
  parseQuantity,
} from '../../core/resources';
import { dockerImage, vmImage } from '../../core/docker';
import { editDistance, nearest } from '../../core/suggest';
import { rejection } from '../helpers/task';

const validDir = path.join(__dirname, '../../../test/task/valid');
function loadValid(name: string) {
  const file = path.join(validDir, name);
  return parseTask(fs.readFileSync(file, 'utf8'), file);
}

const BASE = `
name: base
envs:
  MODEL: llama
  REQUIRED: null
secrets:
  TOKEN: null
resources:
  cpus: 4
  accelerators: [A100:8, H100:8]
run: python train.py
`;

describe('applyOverrides', () => {
  it('--env and --secret win over the file and fill required values', () => {
    const task = parseTask(BASE, 'base.yaml');
    const out = applyOverrides(task, { envs: { MODEL: 'mistral', REQUIRED: 'x' }, secrets: { TOKEN: 's3cr3t' } });
    expect(out.envs).toEqual({ MODEL: 'mistral', REQUIRED: 'x' });
    expect(out.secrets).toEqual({ TOKEN: 's3cr3t' });
    // The input spec is not changed.
    expect(task.envs).toEqual({ MODEL: 'llama', REQUIRED: null });
    expect(task.secrets).toEqual({ TOKEN: null });
    expect(checkLaunchable(task, {}).map((i) => i.field)).toEqual(['envs.REQUIRED', 'secrets.TOKEN']);
    expect(checkLaunchable(out, {})).toEqual([]);
  });

  it('--gpus replaces the accelerators of every candidate', () => {
    const task = parseTask(BASE, 'base.yaml');
    expect(task.candidates.map((c) => c.accelerator)).toEqual([
      { name: 'A100', count: 8 },
      { name: 'H100', count: 8 },
    ]);
    const out = applyOverrides(task, { gpus: 'h100:8' });
    expect(out.candidates).toEqual([
      {
        infra: {},
        useSpot: false,
        ports: [],
        labels: {},
        cpus: { value: 4, orMore: false },
        accelerator: { name: 'H100', count: 8 },
      },
    ]);
    const two = applyOverrides(task, { gpus: 'L4:1,T4:1' });
    expect(two.candidates.map((c) => c.accelerator)).toEqual([
      { name: 'L4', count: 1 },
      { name: 'T4', count: 1 },
    ]);
  });

  it('--infra, --cpus, --memory, --use-spot, --disk-size, --ports, --image-id apply to every candidate', () => {
    const task = parseTask(BASE, 'base.yaml');
    const out = applyOverrides(task, {
      infra: 'gcp/us-central1',
      cpus: '8+',
      memory: '64',
      useSpot: true,
      diskSize: '1TB',
      ports: ['8080', '9000-9002'],
      imageId: 'docker:pytorch/pytorch',
      instanceType: 'a2-highgpu-8g',
      numNodes: 2,
      name: 'renamed',
      workdir: './src',
    });
    expect(out.numNodes).toBe(2);
    expect(out.name).toBe('renamed');
    expect(out.workdir).toBe('./src');
    expect(out.candidates).toHaveLength(2);
    for (const c of out.candidates) {
      expect(c).toMatchObject({
        infra: { cloud: 'gcp', region: 'us-central1' },
        cpus: { value: 8, orMore: true },
        memory: { value: 64, orMore: false },
        useSpot: true,
        diskSizeGb: 1024,
        ports: [
          { from: 8080, to: 8080 },
          { from: 9000, to: 9002 },
        ],
        imageId: 'docker:pytorch/pytorch',
        instanceType: 'a2-highgpu-8g',
      });
    }
    expect(checkLaunchable(out, {}).map((i) => i.field)).not.toContain('resources.image_id'); // gcp runs containers
    const local = applyOverrides(parseTask('run: echo\n', 'base.yaml'), { infra: 'local', imageId: 'docker:x' });
    expect(checkLaunchable(local, {}).map((i) => i.field)).toEqual(['resources.image_id']);
  });

  it('bad flag values name the flag and have no line', () => {
    const task = parseTask(BASE, 'base.yaml');
    const err = rejection(() => applyOverrides(task, { cpus: 'many', gpus: 'A100:x', infra: 'awz', numNodes: 0 }));
    expect(err.issues.map((i) => i.field).sort()).toEqual(['--cpus', '--gpus', '--infra', '--num-nodes']);
    for (const i of err.issues) {
      expect(i.line).toBeUndefined();
      expect(i.file).toBe('base.yaml');
    }
    expect(err.message).toContain(
      'base.yaml: --cpus: expected a positive number of vCPUs like 4, "4" or "4+" (at least 4), got "many"',
    );
    expect(err.message).toContain("base.yaml: --infra: unknown cloud 'awz'; did you mean 'aws'?");
  });

  it('rejects bad env names, env/secret clashes and bad names', () => {
    const task = parseTask(BASE, 'base.yaml');
    expect(rejection(() => applyOverrides(task, { envs: { 'BAD-NAME': '1' } })).issues[0].field).toBe('--env');
    expect(rejection(() => applyOverrides(task, { envs: { TOKEN: '1' } })).message).toContain(
      'give it with --secret TOKEN=VALUE',
    );
    expect(rejection(() => applyOverrides(task, { name: 'has space' })).issues[0].field).toBe('--name');
    expect(rejection(() => applyOverrides(task, { ports: ['70000'] })).issues[0].field).toBe('--ports');
    expect(rejection(() => applyOverrides(task, { diskSize: 'big' })).issues[0].field).toBe('--disk-size');
  });
});

/** A commander command with the CLI's own task flags. */
function taskCommand(): Command {
  return addTaskFlags(new Command().exitOverride());
}

describe('TASK_FLAGS and overridesFromFlags', () => {
  it('names each override flag once', () => {
    expect(Object.values(TASK_FLAGS).map((f) => f.flag)).toEqual([
      '--env',
      '--secret',
      '--infra',
      '--cpus',
      '--memory',
      '--gpus',
      '--instance-type',
      '--use-spot',
      '--disk-size',
      '--ports',
      '--image-id',
      '--num-nodes',
      '--name',
      '--workdir',
      '--git-url',
      '--git-ref',
    ]);
  });

  it('what commander parsed from the table becomes TaskOverrides, and applies', () => {
    const cmd = taskCommand();
    cmd.parse(
      [
        '--env',
        'A=1',
        '--env',
        'FROM_SHELL',
        '--secret',
        'TOKEN=x=y',
        '--accelerators',
        'A100:8',
        '--instance-type',
        'a2-highgpu-8g',
        '--use-spot',
        '--num-nodes',
        '2',
        '-n',
        'job-1',
        '--ports',
        '80',
        '--ports',
        '90-99',
        '--disk-size',
        '1TB',
        '--cpus',
        '8+',
      ],
      { from: 'user' },
    );
    const o = overridesFromFlags(cmd.opts(), { FROM_SHELL: '/h' });
    expect(o).toEqual({
      envs: { A: '1', FROM_SHELL: '/h' },
      secrets: { TOKEN: 'x=y' },
      gpus: 'A100:8',
      instanceType: 'a2-highgpu-8g',
      useSpot: true,
      numNodes: 2,
      name: 'job-1',
      ports: ['80', '90-99'],
      diskSize: '1TB',
      cpus: '8+',
    });
    const out = applyOverrides(parseTask(BASE, 'base.yaml'), o);
    expect(out).toMatchObject({ name: 'job-1', numNodes: 2, secrets: { TOKEN: 'x=y' } });
    expect(out.candidates).toEqual([
      {
        infra: {},
        accelerator: { name: 'A100', count: 8 },
        cpus: { value: 8, orMore: true },
        instanceType: 'a2-highgpu-8g',
        useSpot: true,
        diskSizeGb: 1024,
        ports: [
          { from: 80, to: 80 },
          { from: 90, to: 99 },
        ],
        labels: {},
      },
    ]);
  });

  it('a bare --env NAME unset in the environment names the flag', () => {
    const err = rejection(() => overridesFromFlags({ env: ['NOPE'], secret: ['=x'] }, {}));
    expect(err.issues.map((i) => i.field)).toEqual(['--env', '--secret']);
    expect(err.message).toContain('--env: NOPE: expected NAME=VALUE, or NAME set in your environment');
  });

  it('--git-url and --git-ref set or change a git workdir, as SkyPilot does', () => {
    const plain = parseTask('run: ls\nworkdir: .\n', 'p.yaml');
    expect(applyOverrides(plain, { gitUrl: 'https://h/r.git' }).workdir).toEqual({ url: 'https://h/r.git' });
    expect(applyOverrides(plain, { gitUrl: 'https://h/r.git', gitRef: 'v1' }).workdir).toEqual({
      url: 'https://h/r.git',
      ref: 'v1',
    });
    const git = parseTask('run: ls\nworkdir:\n  url: https://h/a.git\n  ref: main\n', 'g.yaml');
    expect(applyOverrides(git, { gitRef: 'abc1234' }).workdir).toEqual({ url: 'https://h/a.git', ref: 'abc1234' });
    expect(applyOverrides(git, { gitUrl: 'https://h/b.git' }).workdir).toEqual({ url: 'https://h/b.git', ref: 'main' });
    expect(rejection(() => applyOverrides(plain, { gitRef: 'v1' })).message).toContain(
      '--git-ref: expected a git workdir to check out',
    );
  });

  it('a bad value of each flag is reported under that flag', () => {
    const task = parseTask(BASE, 'base.yaml');
    const bad: Required<Omit<TaskOverrides, 'useSpot'>> = {
      envs: { 'B-': '1' },
      secrets: { 'B-': '1' },
      infra: 'awz',
      cpus: 'x',
      memory: '0',
      gpus: '',
      instanceType: 'a b',
      diskSize: '0',
      ports: ['x'],
      imageId: ' ',
      numNodes: 0,
      name: '-',
      workdir: ' ',
      gitUrl: ' ',
      gitRef: ' ',
    };
    for (const [key, value] of Object.entries(bad)) {
      const err = rejection(() => applyOverrides(task, { [key]: value }));
      expect(err.issues.map((i) => i.field)).toEqual([TASK_FLAGS[key as keyof TaskOverrides].flag]);
    }
  });
});

describe('checkLaunchable', () => {
  it('refuses required envs and secrets, with their line', () => {
    const task = parseTask(BASE, 'base.yaml');
    const issues = checkLaunchable(task, {});
    expect(issues).toEqual([
      {
        file: 'base.yaml',
        line: 5,
        column: 3,
        field: 'envs.REQUIRED',
        message: 'REQUIRED has no value; it must be given with --env REQUIRED=VALUE',
      },
      {
        file: 'base.yaml',
        line: 7,
        column: 3,
        field: 'secrets.TOKEN',
        message: 'TOKEN has no value; it must be given with --secret TOKEN=VALUE',
      },
    ]);
  });

  it('refuses services; takes S3 buckets (storage objects and URIs) and git workdirs', () => {
    expect(checkLaunchable(loadValid('cpu-service.yaml'), {}).map((i) => i.message)).toEqual([
      'SkyServe services are not supported yet; use skyrun launch without service',
    ]);
    const llama = checkLaunchable(loadValid('llama-ft.yaml'), {});
    expect(llama.map((i) => i.field)).toEqual(['secrets.HF_TOKEN']);
    expect(checkLaunchable(loadValid('k8s-tpu.yaml'), {})).toEqual([]);
    const git = checkLaunchable(loadValid('fractional-and-git.yaml'), {});
    expect(git.map((i) => i.field)).toEqual([]);
  });

  it('takes volumes (PVCs) on kubernetes or without infra, refuses them elsewhere and when malformed', () => {
    const vols = (infra: string, volumes = '  /data: my-vol\n') =>
      parseTask(`resources:\n${infra}  image_id: docker:ubuntu:22.04\nrun: echo\nvolumes:\n${volumes}`, 'd.yaml');
    for (const infra of ['', '  infra: k8s\n', '  infra: k8s/ctx\n']) {
      const task = vols(infra);
      expect(checkLaunchable(task, {})).toEqual([]);
      expect(task.candidates[0]!.kubernetes).toEqual({ volumes: { '/data': 'my-vol' } });
    }
    const aws = checkLaunchable(vols('  infra: aws\n'), {});
    expect(aws.map((i) => [i.field, i.line])).toEqual([['volumes', 5]]);
    expect(aws[0]!.message).toMatch(/Kubernetes only; this task asks for aws infra\. Use infra: k8s/);
    const local = checkLaunchable(
      parseTask('resources:\n  infra: local\nrun: echo\nvolumes:\n  /data: my-vol\n', 'd.yaml'),
      {},
    );
    expect(local.map((i) => i.field)).toEqual(['volumes']);
    expect(local[0]!.message).toContain('local infra');
    const bad = vols('', '  data: my-vol\n  /x: Not_A_Name\n');
    expect(checkLaunchable(bad, {}).map((i) => i.message)).toEqual([
      'mount path "data" must be absolute (start with /)',
      `expected the name of a PersistentVolumeClaim (lower-case letters, digits, '-' and '.'), got "Not_A_Name"`,
    ]);
    expect(bad.candidates[0]!.kubernetes).toBeUndefined();
    expect(checkLaunchable(vols('', '  - /data\n'), {}).map((i) => i.field)).toEqual(['volumes']);
  });

  it('carries config.kubernetes.pod_config to every candidate and refuses a malformed one', () => {
    const task = parseTask(
      'resources:\n  any_of:\n    - infra: k8s\n    - cpus: 2\nrun: echo\nconfig:\n  kubernetes:\n    pod_config:\n      spec:\n        tolerations: [{key: a, operator: Exists}]\n',
      'c.yaml',
    );
    expect(checkLaunchable(task, {})).toEqual([]);
    expect(task.candidates.map((c) => c.kubernetes?.podConfig)).toEqual([
      { spec: { tolerations: [{ key: 'a', operator: 'Exists' }] } },
      { spec: { tolerations: [{ key: 'a', operator: 'Exists' }] } },
    ]);
    const bad = parseTask(
      'run: echo\nconfig:\n  kubernetes:\n    pod_config:\n      metadata: {name: x}\n      spec: {tolerations: 3}\n',
      'c.yaml',
    );
    expect(checkLaunchable(bad, {}).map((i) => [i.field, i.message])).toEqual([
      [
        'config',
        'config.kubernetes.pod_config.metadata.name: SkyRun names the pods and takes the namespace from the context or kubernetes.namespace; remove it',
      ],
      ['config', 'config.kubernetes.pod_config.spec.tolerations: expected a list of mappings'],
    ]);
    expect(bad.candidates[0]!.kubernetes).toBeUndefined();
  });

  it('accepts docker images where containers run, refuses them on local and sim and without an image', () => {
    const check = (text: string) => checkLaunchable(parseTask(text, 'd.yaml'), {});
    for (const infra of ['aws', 'gcp', 'k8s', 'ssh/lab', undefined]) {
      const where = infra ? `  infra: ${infra}\n` : '';
      expect(check(`resources:\n${where}  image_id: docker:vllm/vllm-openai:latest\nrun: echo\n`)).toEqual([]);
    }
    expect(
      check('resources:\n  image_id:\n    us-east-1: docker:ubuntu:22.04\n    us-west-2: ami-1\nrun: echo\n'),
    ).toEqual([]);
    for (const infra of ['local', 'sim']) {
      const issues = check(`resources:\n  infra: ${infra}\n  image_id: docker:ubuntu:22.04\nrun: echo\n`);
      expect(issues.map((i) => [i.field, i.line])).toEqual([['resources.image_id', 3]]);
      expect(issues[0].message).toContain(`${infra} infra runs tasks as processes of this machine`);
      expect(issues[0].message).toContain('need infra that runs containers (aws, gcp, kubernetes, ssh)');
    }
    expect(check('resources:\n  image_id: "docker:"\nrun: echo\n')[0]?.message).toContain('docker: names no image');
    // aws and gcp boot their default VM image for a docker image, their own image id otherwise
    expect([vmImage('docker:ubuntu:22.04'), vmImage('DOCKER: x'), vmImage('ami-1'), vmImage(undefined)]).toEqual([
      undefined,
      undefined,
      'ami-1',
      undefined,
    ]);
    expect(dockerImage(' docker: ghcr.io/o/a:1 ')).toBe('ghcr.io/o/a:1');
    expect(check('resources:\n  image_id: "docker:a b"\nrun: echo\n')[0]?.message).toContain(
      'is not a docker image reference',
    );
  });

  it('launches a task with neither run nor setup (provision only); a managed job needs run', () => {
    const idle = parseTask('name: idle\n', 'idle.yaml');
    expect(checkLaunchable(idle, {})).toEqual([]);
    expect(hasWork(idle)).toBe(false);
    const issues = checkLaunchable(idle, { managed: true });
    expect(issues).toHaveLength(1);
    expect(issues[0].field).toBe('run');
    expect(issues[0].message).toContain('a managed job needs something to run');
    expect(hasWork(parseTask('setup: pip install x\n', 's.yaml'))).toBe(true);
    expect(checkLaunchable(parseTask('setup: pip install x\n', 's.yaml'), {})).toEqual([]);
  });

  it('ignores job_recovery on unmanaged launches; managed needs the same one everywhere', () => {
    const text = 'resources:\n  ordered:\n    - infra: aws\n      job_recovery: FAILOVER\n    - infra: gcp\nrun: x\n';
    const task = parseTask(text, 'm.yaml');
    expect(checkLaunchable(task, {})).toEqual([]);
    expect(checkLaunchable(task, { managed: true }).map((i) => i.field)).toEqual(['resources.job_recovery']);
    expect(checkLaunchable(loadValid('managed-ordered.yaml'), { managed: true })).toEqual([]);
  });
});

describe('taskFromCommand', () => {
  it('builds a default task around the command', () => {
    expect(taskFromCommand('echo hi')).toEqual({
      file: '<command line>',
      numNodes: 1,
      candidates: [{ infra: {}, useSpot: false, ports: [], labels: {} }],
      ordered: false,
      envs: {},
      secrets: {},
      fileMounts: {},
      run: 'echo hi',
    });
    expect(checkLaunchable(taskFromCommand('echo hi'), {})).toEqual([]);
    const t = applyOverrides(taskFromCommand('nvidia-smi', 'cmd'), { gpus: 'T4' });
    expect(t.candidates[0].accelerator).toEqual({ name: 'T4', count: 1 });
    expect(checkLaunchable(taskFromCommand('   '), {})).toEqual([]);
    expect(hasWork(taskFromCommand('   '))).toBe(false);
  });
});

describe('redactSecrets', () => {
  it('replaces every non-empty secret value', () => {
    const task = applyOverrides(parseTask('secrets:\n  A: null\n  B: ""\n  C: null\nrun: x\n', 's.yaml'), {
      secrets: { A: 'hunter2', C: 'hunter2-long' },
    });
    expect(redactSecrets('token=hunter2-long and hunter2, hunter2; empty: ""', task)).toBe(
      'token=<redacted> and <redacted>, <redacted>; empty: ""',
    );
    expect(redactSecrets('nothing here', taskFromCommand('x'))).toBe('nothing here');
  });
});

describe('names', () => {
  it('validates cluster and task names', () => {
    for (const ok of ['a', 'my-cluster', 'train.v2', 'x_1', 'A9']) {
      expect(validateName(ok)).toBeUndefined();
      expect(CLUSTER_NAME_RE.test(ok)).toBe(true);
    }
    for (const bad of ['', '1abc', 'a b', 'ends-', '-x', 'semi;colon', 'a/b']) {
      expect(validateName(bad)).toContain('expected a name');
    }
  });
});

describe('nearest', () => {
  it('suggests close names and nothing for far ones', () => {
    expect(nearest('runn', ['setup', 'run'])).toBe('run');
    expect(nearest('gpc', ['aws', 'gcp', 'azure'])).toBe('gcp');
    expect(nearest('ACCELERATOR', ['accelerators', 'cpus'])).toBe('accelerators');
    expect(nearest('zzzzzz', ['aws', 'gcp'])).toBeUndefined();
    expect(nearest('', ['a'])).toBeUndefined();
    expect(nearest('x', [])).toBeUndefined();
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('ab', 'ba')).toBe(1);
  });
});

describe('resource parsers (CLI flags)', () => {
  it('parses accelerators in every form', () => {
    expect(parseAccelerators('a100:8')).toEqual({ ok: true, value: [{ name: 'A100', count: 8 }] });
    expect(parseAccelerators('A100:0.5')).toEqual({ ok: true, value: [{ name: 'A100', count: 0.5 }] });
    expect(parseAccelerators('MyCustomGPU:2')).toEqual({ ok: true, value: [{ name: 'MyCustomGPU', count: 2 }] });
    expect(parseAccelerators({ A100: 8, h100: null })).toEqual({
      ok: true,
      value: [
        { name: 'A100', count: 8 },
        { name: 'H100', count: 1 },
      ],
    });
    expect(parseAccelerators(['A100:8', { H100: 4 }])).toEqual({
      ok: true,
      value: [
        { name: 'A100', count: 8 },
        { name: 'H100', count: 4 },
      ],
    });
    expect(parseAccelerators('{A100:8, l40s:2}')).toEqual({
      ok: true,
      value: [
        { name: 'A100', count: 8 },
        { name: 'L40S', count: 2 },
      ],
    });
    expect(parseAccelerators('A100:0')).toMatchObject({ ok: false });
    expect(parseAccelerators([])).toMatchObject({ ok: false });
    expect(canonicalAcceleratorName('a100-80gb')).toBe('A100-80GB');
    expect(canonicalAcceleratorName('TPU-V6E-8')).toBe('tpu-v6e-8');
  });

  it('parses infra with wildcards, k8s contexts and ssh pools', () => {
    expect(parseInfra('AWS')).toEqual({ ok: true, value: { cloud: 'aws' } });
    expect(parseInfra('*/us-east-1')).toEqual({ ok: true, value: { region: 'us-east-1' } });
    expect(parseInfra('aws/*/us-east-1a')).toEqual({ ok: true, value: { cloud: 'aws', zone: 'us-east-1a' } });
    expect(parseInfra('k8s/arn:aws:eks:us-east-1:1234:cluster/prod')).toEqual({
      ok: true,
      value: { cloud: 'kubernetes', region: 'arn:aws:eks:us-east-1:1234:cluster/prod' },
    });
    expect(parseInfra('ssh/my-pool')).toEqual({ ok: true, value: { cloud: 'ssh', region: 'my-pool' } });
    expect(parseInfra('*')).toEqual({ ok: true, value: {} });
    for (const bad of ['aws//x', '', '/us-east-1', 'aws/a/b/c', 'k8s/', 'aws us']) {
      const r = parseInfra(bad);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toContain('expected infra like');
    }
    expect(formatInfra({ cloud: 'aws', zone: 'us-east-1a' })).toBe('aws/*/us-east-1a');
    expect(formatInfra({})).toBe('*');
  });

  it('parses cpus/memory, ports, disk sizes, autostop and job_recovery', () => {
    expect(parseQuantity('4+', 'cpus')).toEqual({ ok: true, value: { value: 4, orMore: true } });
    expect(parseQuantity(0.5, 'cpus')).toEqual({ ok: true, value: { value: 0.5, orMore: false } });
    expect(parseQuantity('0', 'memory').ok).toBe(false);
    expect(parsePorts(['22', 8080, '3000-3001'])).toEqual({
      ok: true,
      value: [
        { from: 22, to: 22 },
        { from: 8080, to: 8080 },
        { from: 3000, to: 3001 },
      ],
    });
    expect(parsePorts('0').ok).toBe(false);
    expect(parseDiskSize('2TB')).toEqual({ ok: true, value: 2048 });
    expect(parseDiskSize(100.5).ok).toBe(false);
    expect(parseAutostop(true)).toEqual({ ok: true, value: { idleMinutes: 5, down: false } });
    expect(parseAutostop(false)).toEqual({ ok: true, value: undefined });
    expect(parseAutostop('2h')).toEqual({ ok: true, value: { idleMinutes: 120, down: false } });
    expect(parseAutostop({ down: true })).toEqual({ ok: true, value: { idleMinutes: 5, down: true } });
    expect(parseAutostop(-1).ok).toBe(false);
    expect(parseJobRecovery('failover')).toEqual({
      ok: true,
      value: { strategy: 'FAILOVER', maxRestartsOnErrors: 0, recoverOnExitCodes: [] },
    });
    expect(parseJobRecovery({ recover_on_exit_codes: 33 })).toEqual({
      ok: true,
      value: { strategy: 'EAGER_NEXT_REGION', maxRestartsOnErrors: 0, recoverOnExitCodes: [33] },
    });
    expect(parseJobRecovery({ recover_on_exit_codes: [1, 256] })).toMatchObject({
      ok: false,
      at: ['recover_on_exit_codes', 1],
    });
  });
});

describe('substituteEnvs', () => {
  it('fills ${VAR} and $VAR from envs into workdir and file_mounts, after overrides', () => {
    const text = [
      'workdir: ~/src/$PROJECT',
      'envs:',
      '  PROJECT: demo',
      '  BUCKET: null',
      'secrets:',
      '  KEY: hidden',
      'file_mounts:',
      '  /data/${PROJECT}: ./data/$PROJECT/$UNKNOWN',
      '  /ckpt:',
      '    name: ${BUCKET}-ckpt',
      '    source: [./a/$KEY]',
      'run: echo',
    ].join('\n');
    const task = applyOverrides(parseTask(text, 'e.yaml'), { envs: { BUCKET: 'b1' } });
    const out = substituteEnvs(task);
    expect(out.workdir).toBe('~/src/demo');
    expect(out.fileMounts).toEqual({
      '/data/demo': './data/demo/$UNKNOWN',
      '/ckpt': { name: 'b1-ckpt', source: ['./a/$KEY'] },
    });
    expect(task.fileMounts['/data/${PROJECT}']).toBe('./data/$PROJECT/$UNKNOWN');
    expect(expandEnvRefs('${A}x$A$B', { A: '1', B: null })).toBe('1x1$B');
  });
});
