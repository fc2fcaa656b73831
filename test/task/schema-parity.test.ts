/**
 * SkyPilot's task and resources schema (sky/utils/schemas.py), field by field: every field it
 * accepts is accepted here with the same types; what SkyRun does not act on is reported once, as
 * a warning naming the field (core/task/ignored-fields.ts), never as an invalid-input error.
 */
import { IGNORED_FIELDS, ignoredKey } from '../../core/task/ignored-fields';
import { checkLaunchable, parseTask, substituteEnvs } from '../../core/task';
import type { TaskSpec } from '../../core/task';

const parse = (text: string): TaskSpec => parseTask(text, 'parity.yaml');
const warned = (t: TaskSpec): string[] => (t.warnings ?? []).map((w) => w.field);

/** [field, YAML using it]: SkyRun acts on these (no warning). */
const ACTED: Array<[string, string]> = [
  ['name', 'name: train-1\nrun: x\n'],
  ['workdir (git)', 'workdir: {url: https://example.com/r.git, ref: main}\nrun: x\n'],
  ['num_nodes', 'num_nodes: 2\nrun: x\n'],
  ['envs (numbers and booleans become strings)', 'envs: {N: 3, B: true, F: 1.5}\nrun: x\n'],
  ['secrets', 'secrets: {TOKEN: abc}\nrun: x\n'],
  ['setup only', 'setup: pip install x\n'],
  [
    'file_mounts (storage object)',
    'file_mounts:\n  /d: {name: my-bucket, store: S3, mode: copy, persistent: false}\nrun: x\n',
  ],
  ['config.kubernetes.pod_config', 'config: {kubernetes: {pod_config: {spec: {}}}}\nrun: x\n'],
  ['volumes', 'volumes: {/mnt/data: my-pvc}\nrun: x\n'],
  ['resources.infra (k8s context with slashes)', 'resources: {infra: "k8s/aws:eks:us-east-1:1:cluster/c"}\n'],
  ['resources.cloud (any case)', 'resources: {cloud: AWS, region: us-east-1}\n'],
  ['resources.cpus / memory with units', 'resources: {cpus: 4+, memory: 32GB+}\n'],
  ['resources.accelerators (mapping with null)', 'resources: {accelerators: {A100: null}}\n'],
  ['resources.accelerators (list)', 'resources: {accelerators: [A100, H100:2]}\n'],
  ['resources.disk_size with unit', 'resources: {disk_size: 1TB, disk_tier: best, network_tier: best}\n'],
  ['resources.ports null, image_id null', 'resources: {ports: null, image_id: null, labels: {team: ml}}\n'],
  [
    'resources.job_recovery',
    'resources: {job_recovery: {strategy: FAILOVER, max_restarts_on_errors: 3, recover_on_exit_codes: [33]}}\n',
  ],
  ['resources.autostop', 'resources: {autostop: {idle_minutes: 10, down: true}}\n'],
  ['resources.priority / max_hourly_cost', 'resources: {priority: 100, max_hourly_cost: 12.5}\n'],
  ['resources.gpus (alias of accelerators)', 'resources: {gpus: H100:8}\n'],
  [
    'config.kubernetes.provision_timeout -1 (wait indefinitely)',
    'config: {kubernetes: {provision_timeout: -1}}\nrun: x\n',
  ],
];

/** [YAML, the field warned about]: accepted and ignored. */
const IGNORED: Array<[string, string]> = [
  ['event_callback: echo done\nrun: x\n', 'event_callback'],
  ['inputs: {s3://b/x: 10}\nrun: x\n', 'inputs'],
  ['outputs: {s3://b/y: 1}\nrun: x\n', 'outputs'],
  ['pool: {workers: 2}\nrun: x\n', 'pool'],
  ['file_mounts_mapping: {}\nrun: x\n', 'file_mounts_mapping'],
  ['volume_mounts: []\nrun: x\n', 'volume_mounts'],
  ['api_server_access: false\nrun: x\n', 'api_server_access'],
  ['_metadata: {k: v}\nrun: x\n', '_metadata'],
  ['managed_secrets: [{HF: {mount_path: /s}}]\nrun: x\n', 'managed_secrets[0].mount_path'],
  ['resources: {local_disk: "nvme:2"}\n', 'resources.local_disk'],
  ['resources: {ephemeral_storage: 100GB}\n', 'resources.ephemeral_storage'],
  ['resources: {priority_class: high}\n', 'resources.priority_class'],
  ['resources: {accelerator_args: {tpu_vm: true}}\n', 'resources.accelerator_args'],
  ['resources: {autostop: {idle_minutes: 5, wait_for: jobs}}\n', 'resources.autostop.wait_for'],
  ['resources: {autostop: {hook: "echo bye", hook_timeout: 30}}\n', 'resources.autostop.hook'],
  [
    'resources: {job_recovery: {strategy: EAGER_NEXT_REGION, plugin_field: 1}}\n',
    'resources.job_recovery.plugin_field',
  ],
  ['resources: {_no_missing_accel_warnings: true}\n', 'resources._no_missing_accel_warnings'],
  ['resources: {_docker_login_config: {username: u, password: p, server: s}}\n', 'resources._docker_login_config'],
  ['resources: {_is_image_managed: false, _requires_fuse: true}\n', 'resources._is_image_managed'],
  ['resources: {_cluster_config_overrides: {}}\n', 'resources._cluster_config_overrides'],
  ['file_mounts: {/d: {name: my-bucket, mount_options: "-o ro"}}\n', 'file_mounts./d.mount_options'],
  ['file_mounts: {/d: {name: my-bucket, type: x}}\n', 'file_mounts./d.type'],
  ['file_mounts: {/d: {name: my-bucket, config: {mount_cached: {transfers: 4}}}}\n', 'file_mounts./d.config'],
  ['file_mounts: {/d: {name: my-bucket, _is_sky_managed: true}}\n', 'file_mounts./d._is_sky_managed'],
  ['config: {docker: {run_options: [--shm-size=1g]}}\nrun: x\n', 'config.docker'],
  ['config: {hooks: [{run: echo}]}\nrun: x\n', 'config.hooks'],
  ['config: {gcp: {enable_gvnic: true}}\nrun: x\n', 'config.gcp.enable_gvnic'],
];

describe('SkyPilot task schema parity', () => {
  it.each(ACTED)('acts on %s', (_name, yaml) => {
    const t = parse(yaml);
    expect(warned(t)).toEqual([]);
  });

  it.each(IGNORED)('accepts %j and warns once about %s', (yaml, field) => {
    const t = parse(yaml);
    expect(warned(t)).toContain(field);
    const w = t.warnings!.find((x) => x.field === field)!;
    expect(w.line).toBeGreaterThan(0);
    expect(w.message).toMatch(/ignored/);
  });

  it('lists every ignored field in the table, with a reason', () => {
    for (const [, field] of IGNORED.filter(([, f]) => !f.startsWith('config.'))) {
      expect(ignoredKey(field.replace(/\[\d+\]/, '.*'))).toBeDefined();
    }
    for (const reason of Object.values(IGNORED_FIELDS)) expect(reason.length).toBeGreaterThan(10);
  });

  it('reports a field once even when several alternatives give it', () => {
    const t = parse('resources:\n  local_disk: nvme\n  any_of:\n    - {local_disk: a}\n    - {local_disk: b}\n');
    expect(warned(t).filter((f) => f === 'resources.local_disk')).toHaveLength(1);
  });

  it('still refuses what SkyPilot refuses: a wrong type, an unknown field', () => {
    expect(() => parse('event_callback: [a]\n')).toThrow(/event_callback: expected a string/);
    expect(() => parse('api_server_access: maybe\n')).toThrow(/api_server_access: expected true or false/);
    expect(() => parse('resources: {gpu: A100}\n')).toThrow(/unknown field 'gpu'; did you mean 'gpus'/);
    expect(() => parse('resources: {gpus: A100, accelerators: A100}\n')).toThrow(/only one of accelerators and gpus/);
    expect(() => parse('config: {kubernetes: {provision_timeout: soon}}\n')).toThrow(
      /config.kubernetes.provision_timeout: expected a positive number/,
    );
  });

  it("takes SkyPilot's secret-store references as secrets required at launch", () => {
    const t = parse('secrets: [secrets:HF_TOKEN, secrets:personal.WANDB]\nmanaged_secrets: [OTHER]\nrun: x\n');
    expect(t.secrets).toEqual({ HF_TOKEN: null, WANDB: null, OTHER: null });
    expect(checkLaunchable(t, {}).map((i) => i.field)).toEqual(['secrets.HF_TOKEN', 'secrets.WANDB', 'secrets.OTHER']);
    const d = parse("secrets: {'secrets:HF_TOKEN': null, INLINE: v}\nrun: x\n");
    expect(d.secrets).toEqual({ INLINE: 'v', HF_TOKEN: null });
  });

  it('converts memory units to GiB', () => {
    expect(parse('resources: {memory: 32GB+}\n').candidates[0].memory).toEqual({ value: 32, orMore: true });
    expect(parse('resources: {memory: 512Mi}\n').candidates[0].memory).toEqual({ value: 0.5, orMore: false });
    expect(parse('resources: {memory: 1TB}\n').candidates[0].memory).toEqual({ value: 1024, orMore: false });
    expect(parse('resources: {memory: 16g}\n').candidates[0].memory).toEqual({ value: 16, orMore: false });
    expect(parse('resources: {gpus: H100:8}\n').candidates[0].accelerator).toEqual({ name: 'H100', count: 8 });
  });

  it('substitutes envs in file_mounts keys, every storage field, volumes and service', () => {
    const t = substituteEnvs(
      parse(
        [
          'envs: {B: ckpt, STORE: gcs, MODE: COPY, CLAIM: pvc-a, M: llama}',
          'file_mounts:',
          '  "/data/${B}": {name: "bucket-${B}", store: $STORE, mode: "${MODE}"}',
          'volumes:',
          "  '/mnt/${B}': '${CLAIM}'",
          'service: {readiness_probe: {path: /v1, post_data: {model: $M}}}',
          'run: x',
          '',
        ].join('\n'),
      ),
    );
    expect(t.fileMounts).toEqual({ '/data/ckpt': { name: 'bucket-ckpt', store: 'gcs', mode: 'COPY' } });
    expect(t.volumes).toEqual({ '/mnt/ckpt': 'pvc-a' });
    expect(t.candidates[0].kubernetes?.volumes).toEqual({ '/mnt/ckpt': 'pvc-a' });
    expect((t.service as { readiness_probe: { post_data: { model: string } } }).readiness_probe.post_data.model).toBe(
      'llama',
    );
  });
});
