// CLI overrides: the flags that change a task (`--gpus A100:8`, `--env K=V`, ...).
//
// TASK_FLAGS is the one place a flag is named. Each TaskOverrides field has one
// entry there: the flag as typed, its argument, its help text, and how it changes
// the task. The CLI registers its options from the table and turns what its
// option parser gave into TaskOverrides with overridesFromFlags; applyOverrides
// names the same flag in its issues. So a flag and the override field it sets
// cannot drift apart: adding a TaskOverrides field without a flag does not compile.

import { parseAccelerators } from './accelerators';
import { parseInfra } from './infra';
import type { Parsed } from './parsed';
import { parseDiskSize, parseNumNodes, parsePorts, parseQuantity } from './values';
import { clone, dedupe } from './resource-fields';
import type { PortRange, Resources, TaskIssue, TaskSpec } from './types';
import { ENV_NAME_RE, TaskValidationError, validateName } from './types';
import { copyPositions } from './yaml';

export interface TaskOverrides {
  envs?: Record<string, string>;
  secrets?: Record<string, string>;
  infra?: string;
  cpus?: string;
  memory?: string;
  gpus?: string;
  instanceType?: string;
  useSpot?: boolean;
  diskSize?: string;
  ports?: string[];
  imageId?: string;
  numNodes?: number;
  name?: string;
  workdir?: string;
  gitUrl?: string;
  gitRef?: string;
}

/** What a flag's apply step works on: the new spec, and where to report a bad value. */
interface Apply {
  out: TaskSpec;
  /** Records an issue naming this flag. */
  bad(message: string): void;
  /** The value of a Parsed, or undefined after reporting its error. */
  parsed<T>(r: Parsed<T>): T | undefined;
  eachCandidate(f: (r: Resources) => void): void;
}

/** One override flag. Its option-parser name is the camelCase of `flag` (`--instance-type` => instanceType). */
export interface TaskFlag<V> {
  /** The long flag, as typed. */
  flag: `--${string}`;
  /** Other spellings (hidden from help). */
  aliases?: `--${string}`[];
  short?: `-${string}`;
  /** The argument as help shows it (`<n>`); none for a boolean flag. */
  arg?: string;
  /** Given several times, the values are collected in a list. */
  repeatable?: boolean;
  help: string;
  /** Changes `a.out` to follow the flag's value, or reports why the value is bad. */
  apply(a: Apply, value: V): void;
}

type TaskFlags = { readonly [K in keyof TaskOverrides]-?: TaskFlag<NonNullable<TaskOverrides[K]>> };

function setVars(kind: 'envs' | 'secrets'): TaskFlag<Record<string, string>>['apply'] {
  return ({ out, bad }, vars) => {
    const flag = TASK_FLAGS[kind].flag;
    const otherFlag = TASK_FLAGS[kind === 'envs' ? 'secrets' : 'envs'].flag;
    const other = kind === 'envs' ? out.secrets : out.envs;
    for (const [name, value] of Object.entries(vars)) {
      if (!ENV_NAME_RE.test(name)) {
        bad(
          `invalid name '${name}'; expected ${flag} NAME=VALUE with NAME of letters, digits and '_', not starting with a digit`,
        );
      } else if (Object.prototype.hasOwnProperty.call(other, name)) {
        bad(
          `'${name}' is a ${kind === 'envs' ? 'secret' : 'env'} in the task; give it with ${otherFlag} ${name}=VALUE`,
        );
      } else {
        out[kind][name] = value;
      }
    }
  };
}

/** Sets one Resources field on every candidate from a parsed flag value (copied per candidate). */
function setResource<K extends 'infra' | 'cpus' | 'memory' | 'diskSizeGb'>(
  key: K,
  parse: (v: string) => Parsed<NonNullable<Resources[K]>>,
): TaskFlag<string>['apply'] {
  return ({ parsed, eachCandidate }, v) => {
    const value = parsed(parse(v));
    if (value === undefined) return;
    eachCandidate((r) => {
      r[key] = (typeof value === 'object' ? { ...value } : value) as Resources[K];
    });
  };
}

/**
 * The override flags, in the order their issues are reported. Flags win over
 * the YAML; resource flags apply to every candidate.
 */
export const TASK_FLAGS: TaskFlags = {
  envs: {
    flag: '--env',
    arg: '<NAME=VALUE>',
    repeatable: true,
    help: 'environment variable for setup and run (repeatable; overrides the file)',
    apply: setVars('envs'),
  },
  secrets: {
    flag: '--secret',
    arg: '<NAME=VALUE>',
    repeatable: true,
    help: 'secret variable, redacted from output (repeatable; overrides the file)',
    apply: setVars('secrets'),
  },
  infra: {
    flag: '--infra',
    arg: '<infra>',
    help: 'where to run: local, aws, aws/us-east-1, gcp/*/us-central1-a, ...',
    apply: setResource('infra', parseInfra),
  },
  cpus: {
    flag: '--cpus',
    arg: '<n>',
    help: "vCPUs per node, e.g. 4 or '4+'",
    apply: setResource('cpus', (v) => parseQuantity(v, 'cpus')),
  },
  memory: {
    flag: '--memory',
    arg: '<gb>',
    help: "memory per node in GiB, e.g. 16 or '16+'",
    apply: setResource('memory', (v) => parseQuantity(v, 'memory')),
  },
  gpus: {
    flag: '--gpus',
    aliases: ['--accelerators'],
    arg: '<acc>',
    help: 'accelerators, e.g. A100:8 (alias --accelerators)',
    apply: ({ out, bad, parsed }, v) => {
      const accs = parsed(parseAccelerators(v));
      if (accs && accs.length === 0)
        bad('expected an accelerator like "A100", "A100:8" or "A100:8,H100:8", got an empty value');
      else if (accs)
        out.candidates = out.candidates.flatMap((r) => accs.map((a) => ({ ...clone(r), accelerator: { ...a } })));
    },
  },
  instanceType: {
    flag: '--instance-type',
    arg: '<type>',
    help: 'exact instance type',
    apply: ({ bad, eachCandidate }, v) => {
      const t = v.trim();
      if (t === '' || /\s/.test(t)) bad(`expected an instance type name like "p4d.24xlarge", got ${JSON.stringify(v)}`);
      else eachCandidate((r) => (r.instanceType = t));
    },
  },
  useSpot: {
    flag: '--use-spot',
    help: 'use spot instances',
    apply: ({ eachCandidate }, spot) => eachCandidate((r) => (r.useSpot = spot)),
  },
  diskSize: {
    flag: '--disk-size',
    arg: '<gb>',
    help: "disk size per node in GB, e.g. 256 or '1TB'",
    apply: setResource('diskSizeGb', parseDiskSize),
  },
  ports: {
    flag: '--ports',
    arg: '<ports>',
    repeatable: true,
    help: 'ports to open, e.g. 8080 or 10000-10010 (repeatable)',
    apply: ({ parsed, eachCandidate }, ports) => {
      const all: PortRange[] = [];
      let good = true;
      for (const p of ports) {
        const r = parsed(parsePorts(p));
        if (r) all.push(...r);
        else good = false;
      }
      if (good) eachCandidate((r) => (r.ports = all.map((x) => ({ ...x }))));
    },
  },
  imageId: {
    flag: '--image-id',
    arg: '<id>',
    help: 'VM image id, e.g. ami-0123...',
    apply: ({ bad, eachCandidate }, v) => {
      const id = v.trim();
      if (id === '') bad('expected an image id like "ami-0123…" or "docker:ubuntu:22.04", got an empty string');
      else eachCandidate((r) => (r.imageId = id));
    },
  },
  numNodes: {
    flag: '--num-nodes',
    arg: '<n>',
    help: 'number of nodes',
    apply: ({ out, bad }, n) => {
      if (!Number.isInteger(n) || n < 1) bad(`expected a positive integer, got ${n}`);
      else out.numNodes = n;
    },
  },
  name: {
    flag: '--name',
    short: '-n',
    arg: '<name>',
    help: 'task name',
    apply: ({ out, bad }, name) => {
      const err = validateName(name);
      if (err) bad(err);
      else out.name = name;
    },
  },
  workdir: {
    flag: '--workdir',
    arg: '<dir>',
    help: 'local folder synced to ~/sky_workdir on every node',
    apply: ({ out, bad }, dir) => {
      if (dir.trim() === '') bad('expected a local directory, got an empty string');
      else out.workdir = dir;
    },
  },
  gitUrl: {
    flag: '--git-url',
    arg: '<url>',
    help: 'git repository cloned to ~/sky_workdir on every node (instead of a local workdir)',
    apply: ({ out, bad }, url) => {
      if (url.trim() === '') bad('expected a git repository URL, got an empty string');
      else out.workdir = typeof out.workdir === 'object' ? { ...out.workdir, url } : { url };
    },
  },
  gitRef: {
    flag: '--git-ref',
    arg: '<ref>',
    help: "branch, tag or commit of the git workdir to check out (default: the remote's default branch)",
    apply: ({ out, bad }, ref) => {
      if (ref.trim() === '') bad('expected a branch, tag or commit, got an empty string');
      else if (typeof out.workdir !== 'object')
        bad('expected a git workdir to check out: give --git-url too, or workdir: {url, ref} in the task');
      else out.workdir = { ...out.workdir, ref };
    },
  },
};

/**
 * Applies CLI flags to a task and returns a new spec (the input is not changed).
 * Flags win over the YAML; resource flags apply to every candidate. Bad values
 * throw TaskValidationError whose issues name the flag (e.g. field '--gpus').
 */
export function applyOverrides(task: TaskSpec, o: TaskOverrides): TaskSpec {
  const issues: TaskIssue[] = [];
  const out: TaskSpec = clone(task);
  out.file = task.file;
  if (o.workdir !== undefined && o.gitUrl !== undefined)
    issues.push({ file: task.file, field: '--git-url', message: 'give either --workdir or --git-url, not both' });
  for (const key of Object.keys(TASK_FLAGS) as (keyof TaskOverrides)[]) {
    const value = o[key];
    if (value === undefined) continue;
    const bad = (message: string): void => {
      issues.push({ file: task.file, field: TASK_FLAGS[key].flag, message });
    };
    const a: Apply = {
      out,
      bad,
      parsed: (r) => {
        if (r.ok) return r.value;
        bad(r.error);
        return undefined;
      },
      eachCandidate: (f) => out.candidates.forEach(f),
    };
    (TASK_FLAGS[key].apply as (a: Apply, v: typeof value) => void)(a, value);
  }
  if (issues.length > 0) throw new TaskValidationError(issues);
  out.candidates = dedupe(out.candidates);
  copyPositions(task, out);
  return out;
}

/** The option-parser name of a flag: `--instance-type` => `instanceType` (as commander names it). */
export function flagAttribute(flag: string): string {
  return flag.replace(/^--?/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * TaskOverrides from the values an option parser stored for TASK_FLAGS (under
 * flagAttribute names; an alias's value is used when the flag's is absent).
 * `--env NAME` without `=VALUE` takes NAME from `environment`. Throws
 * TaskValidationError (file '<command line>') naming the flag of a bad value.
 */
export function overridesFromFlags(
  values: Readonly<Record<string, unknown>>,
  environment: Readonly<Record<string, string | undefined>>,
): TaskOverrides {
  const issues: TaskIssue[] = [];
  const o: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(TASK_FLAGS) as [keyof TaskOverrides, TaskFlag<unknown>][]) {
    const raw = [def.flag, ...(def.aliases ?? [])].map((f) => values[flagAttribute(f)]).find((v) => v !== undefined);
    if (raw === undefined) continue;
    const bad = (message: string): void => {
      issues.push({ file: '<command line>', field: def.flag, message });
    };
    if (key === 'envs' || key === 'secrets') o[key] = keyValues(raw, environment, bad);
    else if (key === 'numNodes') {
      const n = parseNumNodes(String(raw));
      if (n.ok) o[key] = n.value;
      else bad(n.error);
    } else if (key === 'ports') o[key] = Array.isArray(raw) ? raw.map(String) : [String(raw)];
    else if (key === 'useSpot') o[key] = raw === true || raw === 'true';
    else o[key] = String(raw);
  }
  if (issues.length > 0) throw new TaskValidationError(issues);
  return o as TaskOverrides;
}

/** NAME=VALUE items, or a bare NAME taken from `environment` (SkyPilot's --env/--secret). */
function keyValues(
  raw: unknown,
  environment: Readonly<Record<string, string | undefined>>,
  bad: (message: string) => void,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (Array.isArray(raw) ? raw : [raw]).map(String)) {
    const eq = item.indexOf('=');
    const fromEnv = eq < 0 ? environment[item] : undefined;
    if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    else if (fromEnv !== undefined) out[item] = fromEnv;
    else bad(`${item}: expected NAME=VALUE, or NAME set in your environment`);
  }
  return out;
}
