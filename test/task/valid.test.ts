import * as fs from 'fs';
import * as path from 'path';
import { JobRecoverySpec, Resources, TaskSpec, parseTask } from '../../core/task';

const dir = path.join(__dirname, '../../../test/task/valid');
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

function load(name: string): TaskSpec {
  const file = path.join(dir, name);
  return parseTask(fs.readFileSync(file, 'utf8'), file);
}

/** A candidate with the defaults filled in. */
function res(r: Partial<Resources>): Resources {
  return { infra: {}, useSpot: false, ports: [], labels: {}, ...r };
}

describe('valid task files', () => {
  it('has at least 8 fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  it.each(files)('%s parses', (name) => {
    const spec = load(name);
    expect(spec.file).toBe(path.join(dir, name));
    expect(spec.candidates.length).toBeGreaterThanOrEqual(1);
  });

  it('llama-ft: unquoted {A:8, B:8} accelerators, storage mount, required secret', () => {
    const spec = load('llama-ft.yaml');
    expect(spec).toEqual({
      file: path.join(dir, 'llama-ft.yaml'),
      name: 'llama-ft',
      workdir: '.',
      numNodes: 1,
      ordered: false,
      candidates: [
        res({ accelerator: { name: 'A100-80GB', count: 8 }, diskSizeGb: 500, diskTier: 'best' }),
        res({ accelerator: { name: 'H100', count: 8 }, diskSizeGb: 500, diskTier: 'best' }),
      ],
      envs: { MODEL: 'meta-llama/Llama-3.1-8B' },
      secrets: { HF_TOKEN: null },
      fileMounts: { '/ckpt': { name: 'my-ckpt-bucket', store: 's3', mode: 'MOUNT_CACHED' } },
      setup: 'pip install -r requirements.txt\n',
      run: 'python train.py --model $MODEL --out /ckpt/$SKYPILOT_TASK_ID\n',
    });
  });

  it('torchrun-gang: num_nodes, infra cloud/region, cpus 16+', () => {
    const spec = load('torchrun-gang.yaml');
    expect(spec.numNodes).toBe(2);
    expect(spec.candidates).toEqual([
      res({
        infra: { cloud: 'gcp', region: 'us-central1' },
        accelerator: { name: 'L4', count: 4 },
        cpus: { value: 16, orMore: true },
      }),
    ]);
    expect(spec.run).toContain('torchrun --nnodes=$SKYPILOT_NUM_NODES');
  });

  it('managed-ordered: ordered alternatives inherit use_spot and job_recovery', () => {
    const spec = load('managed-ordered.yaml');
    const jr: JobRecoverySpec = { strategy: 'EAGER_NEXT_REGION', maxRestartsOnErrors: 3, recoverOnExitCodes: [75] };
    expect(spec.ordered).toBe(true);
    expect(spec.candidates).toEqual([
      res({
        infra: { cloud: 'kubernetes', region: 'on-prem' },
        accelerator: { name: 'A10G', count: 1 },
        useSpot: true,
        jobRecovery: jr,
      }),
      res({ infra: { cloud: 'aws' }, accelerator: { name: 'A10G', count: 1 }, useSpot: true, jobRecovery: jr }),
      res({ infra: { cloud: 'gcp' }, accelerator: { name: 'L4', count: 1 }, useSpot: true, jobRecovery: jr }),
    ]);
  });

  it('cpu-service: ports, autostop mapping, service kept', () => {
    const spec = load('cpu-service.yaml');
    expect(spec.candidates).toEqual([
      res({
        infra: { cloud: 'aws', region: 'us-west-2' },
        cpus: { value: 4, orMore: true },
        memory: { value: 16, orMore: true },
        ports: [{ from: 8000, to: 8000 }],
        autostop: { idleMinutes: 30, down: true },
      }),
    ]);
    expect(spec.service).toEqual({
      readiness_probe: '/health',
      replica_policy: { min_replicas: 1, max_replicas: 4, target_qps_per_replica: 5 },
    });
  });

  it('set-string-wildcard: "{a100:8, H100:8}" set string, */region, autostop 1h', () => {
    const spec = load('set-string-wildcard.yaml');
    expect(spec.ordered).toBe(false);
    expect(spec.candidates).toEqual([
      res({
        infra: { region: 'us-east-1' },
        accelerator: { name: 'A100', count: 8 },
        autostop: { idleMinutes: 60, down: false },
      }),
      res({
        infra: { region: 'us-east-1' },
        accelerator: { name: 'H100', count: 8 },
        autostop: { idleMinutes: 60, down: false },
      }),
    ]);
  });

  it('dict-several-keys: null count is 1, fractional count, aws/*/zone, legacy spot_recovery', () => {
    const spec = load('dict-several-keys.yaml');
    const jr: JobRecoverySpec = { strategy: 'FAILOVER', maxRestartsOnErrors: 0, recoverOnExitCodes: [] };
    const infra = { cloud: 'aws', zone: 'us-east-1a' };
    expect(spec.candidates).toEqual([
      res({ infra, accelerator: { name: 'A100', count: 8 }, jobRecovery: jr }),
      res({ infra, accelerator: { name: 'H100', count: 1 }, jobRecovery: jr }),
      res({ infra, accelerator: { name: 'T4', count: 0.5 }, jobRecovery: jr }),
    ]);
  });

  it('any-of-shared: shared defaults merged, alternative wins, accelerator lists expanded', () => {
    const spec = load('any-of-shared.yaml');
    expect(spec.name).toBe('shared.defaults_1');
    expect(spec.ordered).toBe(false);
    const shared = {
      cpus: { value: 8, orMore: false },
      memory: { value: 32, orMore: true },
      ports: [
        { from: 8080, to: 8080 },
        { from: 10000, to: 10010 },
      ],
      labels: { team: 'ml', 'cost-center': '42' },
    };
    expect(spec.candidates).toEqual([
      res({ ...shared, infra: { cloud: 'aws', region: 'us-east-1' }, accelerator: { name: 'A10G', count: 1 } }),
      res({ ...shared, infra: { cloud: 'aws', region: 'us-east-1' }, accelerator: { name: 'L4', count: 1 } }),
      res({
        ...shared,
        infra: { cloud: 'gcp', region: 'us-central1', zone: 'us-central1-a' },
        cpus: { value: 16, orMore: true },
        diskSizeGb: 1024,
        networkTier: 'best',
        imageId: { 'us-central1': 'projects/deeplearning/global/images/dl-1' },
      }),
      res({ ...shared, infra: { cloud: 'azure' } }),
    ]);
    expect(spec.candidates[3].autostop).toBeUndefined();
  });

  it('ordered-shared-defaults: ssh pool, k8s context, local, sim zone; per-alternative overrides', () => {
    const spec = load('ordered-shared-defaults.yaml');
    const accelerator = { name: 'H100', count: 8 };
    const jobRecovery: JobRecoverySpec = { strategy: 'FAILOVER', maxRestartsOnErrors: 0, recoverOnExitCodes: [] };
    const autostop = { idleMinutes: 5, down: false };
    expect(spec.ordered).toBe(true);
    expect(spec.candidates).toEqual([
      res({ infra: { cloud: 'ssh', region: 'lab-pool' }, accelerator, autostop, jobRecovery }),
      res({
        infra: { cloud: 'kubernetes', region: 'my-ctx' },
        accelerator,
        autostop: { idleMinutes: 10, down: false },
        jobRecovery,
      }),
      res({ infra: { cloud: 'local' }, accelerator, autostop, jobRecovery }),
      res({
        infra: { cloud: 'sim', region: 'sim-east', zone: 'sim-east-b' },
        accelerator,
        autostop,
        jobRecovery,
        useSpot: true,
      }),
    ]);
  });

  it('minimal: defaults everywhere', () => {
    expect(load('minimal.yaml')).toEqual({
      file: path.join(dir, 'minimal.yaml'),
      numNodes: 1,
      ordered: false,
      candidates: [res({})],
      envs: {},
      secrets: {},
      fileMounts: {},
      run: 'echo hello',
    });
  });

  it('fractional-and-git: git workdir, zone without region, numbers kept as written in envs', () => {
    const spec = load('fractional-and-git.yaml');
    expect(spec.workdir).toEqual({ url: 'https://github.com/org/repo.git', ref: 'v1.2' });
    expect(spec.candidates).toEqual([
      res({
        infra: { cloud: 'aws', zone: 'us-east-1a' },
        accelerator: { name: 'T4', count: 0.5 },
        cpus: { value: 0.5, orMore: false },
        memory: { value: 2, orMore: false },
        diskSizeGb: 256,
        priority: 10,
        maxHourlyCost: 2.5,
      }),
    ]);
    expect(spec.envs).toEqual({ LR: '1.0e-3', EPOCHS: '10', DEBUG: 'true', EMPTY: '' });
    expect(spec.run).toBeUndefined();
    expect(spec.setup).toBe('pip install -e .');
  });

  it('k8s-tpu: canonical TPU name, accelerator_args, full autostop mapping, URI mount, config', () => {
    const spec = load('k8s-tpu.yaml');
    expect(spec.name).toBe('tpu.job');
    expect(spec.numNodes).toBe(4);
    expect(spec.candidates).toEqual([
      res({
        infra: { cloud: 'kubernetes' },
        accelerator: { name: 'tpu-v5e-8', count: 1 },
        acceleratorArgs: { runtime_version: 'tpu-vm-base' },
        autostop: { idleMinutes: 20, down: false, waitFor: 'jobs', hook: './save.sh', hookTimeoutSeconds: 300 },
        // the task's pod_config travels with each candidate to the kubernetes provider
        kubernetes: { podConfig: { spec: {} } },
      }),
    ]);
    expect(spec.fileMounts).toEqual({ '~/data': './data', '/models': 's3://bucket/models' });
    expect(spec.config).toEqual({ kubernetes: { pod_config: { spec: {} } } });
  });
});
