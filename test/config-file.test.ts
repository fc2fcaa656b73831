/**
 * SkyPilot's config file (~/.sky/config.yaml, SKYPILOT_CONFIG) under SkyRun's own config.yaml:
 * parse, check, merge (SkyRun's wins), and the CLI refusing a bad value with file:line.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mergeLayers, parseConfigFile, usedConfigKeys } from '../core/config-file';
import { allowedClouds, cloudSettings } from '../activities/infra/settings';
import { SkyrunEnv } from './helpers/skyrun';

jest.setTimeout(120_000);

const dir = mkdtempSync(path.join(os.tmpdir(), 'skyrun-config-'));
const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('parseConfigFile', () => {
  it('accepts SkyPilot keys, warns once about ignored and unknown ones, with their lines', () => {
    const l = parseConfigFile(
      [
        'allowed_clouds: [aws, GCP, kubernetes]',
        'jobs:',
        '  controller: {resources: {cpus: 4+}}',
        'aws:',
        '  vpc_name: my-vpc',
        '  ssh_proxy_command: ssh -W %h:%p bastion',
        'kubernetes:',
        '  allowed_contexts: [a, b]',
        '  provision_timeout: 30',
        '  pod_config: {spec: {}}',
        'gcp: {project_id: p1}',
        'colour: blue',
        '',
      ].join('\n'),
      'sky.yaml',
    );
    expect(l.issues).toEqual([]);
    const w = Object.fromEntries(l.warnings.map((x) => [x.field, x]));
    expect(w.jobs.message).toMatch(/ignored: .*no controller/);
    expect(w.jobs.line).toBe(2);
    expect(w['aws.vpc_name'].line).toBe(5);
    expect(w.colour.message).toMatch(/unknown key 'colour'/);
    expect(Object.keys(w).sort()).toEqual(['aws.vpc_name', 'colour', 'jobs']);
  });

  it('refuses a bad value SkyRun acts on, naming file, line and field', () => {
    const l = parseConfigFile('kubernetes:\n  provision_timeout: soon\nallowed_clouds: [aws, moon]\n', 'sky.yaml');
    expect(l.issues.map((i) => `${i.file}:${i.line}: ${i.field}`)).toEqual([
      'sky.yaml:2: kubernetes.provision_timeout',
      'sky.yaml:3: allowed_clouds',
    ]);
    expect(parseConfigFile('a: [\n', 'broken.yaml').issues[0].file).toBe('broken.yaml');
  });

  it("merges SkyRun's file over SkyPilot's; gcp.project_id is SkyPilot's name for gcp.project", () => {
    const sky = parseConfigFile('aws: {ssh_user: ec2-user, ssh_proxy_command: a}\ngcp: {project_id: sky-p}\n', 's');
    const ours = parseConfigFile('aws: {ssh_user: ubuntu}\n', 'o');
    const merged = mergeLayers([sky, ours]);
    expect(merged.aws).toEqual({ ssh_user: 'ubuntu', ssh_proxy_command: 'a' });
    expect((merged.gcp as { project: string }).project).toBe('sky-p');
    const both = mergeLayers([sky, parseConfigFile('gcp: {project: mine}\n', 'o')]);
    expect((both.gcp as { project: string }).project).toBe('mine');
    expect(usedConfigKeys()).toEqual(expect.arrayContaining(['allowed_clouds', 'kubernetes.allowed_contexts']));
  });
});

describe('settings read both files', () => {
  const saved = { sky: process.env.SKYPILOT_CONFIG, ours: process.env.SKYRUN_CONFIG };
  afterEach(() => {
    for (const [k, v] of [
      ['SKYPILOT_CONFIG', saved.sky],
      ['SKYRUN_CONFIG', saved.ours],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('SKYPILOT_CONFIG under SKYRUN_CONFIG, allowed_clouds, and errors as config failures', () => {
    process.env.SKYPILOT_CONFIG = file(
      'sky.yaml',
      'allowed_clouds: [AWS]\nkubernetes: {namespace: sky-ns, provision_timeout: 5}\n',
    );
    process.env.SKYRUN_CONFIG = file('ours.yaml', 'kubernetes: {namespace: ours}\n');
    expect(cloudSettings('kubernetes')).toEqual({ namespace: 'ours', provision_timeout: 5 });
    expect(allowedClouds()).toEqual(['aws']);
    process.env.SKYRUN_CONFIG = file('bad.yaml', 'kubernetes: {namespace: ours}\naws: {ssh_user: 3}\n');
    expect(() => cloudSettings('kubernetes')).toThrow(/bad\.yaml:2:\d+: aws\.ssh_user: expected a non-empty string/);
  });
});

describe('the CLI', () => {
  let sr: SkyrunEnv;
  beforeAll(async () => {
    sr = await SkyrunEnv.create('config');
  });
  afterAll(async () => sr.dispose());

  it('tests never see ~/.sky: SKYPILOT_CONFIG is an empty file in the test home', () => {
    expect(sr.env.SKYPILOT_CONFIG).toBe(path.join(sr.home, 'sky-config.yaml'));
  });

  it('warns about ignored keys, refuses a bad value with exit 2, and allowed_clouds limits the infra', async () => {
    const task = file('t.yaml', 'resources: {infra: local}\nrun: echo hi\n');
    const sky = file('warn.yaml', 'jobs: {controller: {resources: {cpus: 2}}}\n');
    const ok = await sr.run(['launch', '--dryrun', task], { env: { SKYPILOT_CONFIG: sky } });
    expect(ok.stderr).toMatch(/Warning: .*warn\.yaml:1:1: jobs: accepted and ignored/);
    expect(ok.code).toBe(0);

    const bad = file('bad.yaml', 'allowed_clouds: aws\n');
    const refused = await sr.run(['launch', '--dryrun', task], { env: { SKYPILOT_CONFIG: bad } });
    expect(refused.stderr).toMatch(/bad\.yaml:1:\d+: allowed_clouds: expected a list of cloud names/);
    expect(refused.code).toBe(2);

    const onlyAws = file('aws-only.yaml', 'allowed_clouds: [aws]\n');
    const check = await sr.run(['check'], { env: { SKYPILOT_CONFIG: onlyAws } });
    expect(check.stdout + check.stderr).toMatch(/kubernetes.*not in allowed_clouds/);
  });
});
