/**
 * A git workdir's credentials, as SkyPilot takes them where you launch: GIT_TOKEN (from your
 * environment, or the task's secrets) for an HTTPS URL; for an SSH URL the private key at
 * GIT_SSH_KEY_PATH, else ~/.ssh/id_rsa, else ~/.ssh/id_ed25519. They become the task's secrets
 * GIT_TOKEN and GIT_SSH_KEY (the key's text): encrypted in the workflow's history, redacted from
 * the log, and in the job's environment (so `git pull` works there, as on SkyPilot). The clone on
 * the nodes gets them on stdin (activities/infra/runners/git-workdir.ts), never in a command line.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { GitWorkdir } from '../core/cluster';
import { TaskValidationError, type TaskSpec } from '../core/task';

/** An SSH URL: `ssh://...` or scp-like `[user@]host:path`. */
export function isSshUrl(url: string): boolean {
  return /^ssh:\/\//i.test(url) || (!url.includes('://') && /^([^@/]+@)?[^:/]+:/.test(url));
}

/** A private key's text, or a TaskValidationError (exit 2) naming `field` and never quoting the file. */
function readKey(task: TaskSpec, file: string, field: string): string {
  const bad = (message: string) => new TaskValidationError([{ file: task.file, field, message }]);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw bad(`cannot read ${file} (${(e as NodeJS.ErrnoException).code})`);
  }
  if (!/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text.trimStart()))
    throw bad(`${file} is not a private key (expected -----BEGIN ... PRIVATE KEY-----)`);
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** The SSH key for an SSH URL: GIT_SSH_KEY_PATH, else the first default key that exists. */
function sshKey(task: TaskSpec, env: NodeJS.ProcessEnv): string | undefined {
  const given = env.GIT_SSH_KEY_PATH;
  if (given) return readKey(task, given.replace(/^~(?=\/|$)/, os.homedir()), 'GIT_SSH_KEY_PATH');
  for (const name of ['id_rsa', 'id_ed25519']) {
    const file = path.join(os.homedir(), '.ssh', name);
    if (existsSync(file)) return readKey(task, file, 'workdir.url (an SSH URL, no GIT_SSH_KEY_PATH: the default key)');
  }
  return undefined;
}

/** The task with its git workdir's credentials among its secrets (unchanged without a git workdir). */
export function withGitCredentials(task: TaskSpec, env: NodeJS.ProcessEnv = process.env): TaskSpec {
  const wd = task.workdir;
  if (typeof wd !== 'object') return task;
  const secrets = { ...task.secrets };
  if (/^https?:\/\//i.test(wd.url)) {
    const token = secrets.GIT_TOKEN ?? env.GIT_TOKEN;
    if (token) secrets.GIT_TOKEN = token;
  } else if (isSshUrl(wd.url) && !secrets.GIT_SSH_KEY) {
    const key = sshKey(task, env);
    if (key) secrets.GIT_SSH_KEY = key;
  }
  return { ...task, secrets };
}

/** The git workdir a job carries: URL, ref, and the credentials the clone needs. */
export function gitWorkdir(task: TaskSpec): GitWorkdir | undefined {
  const wd = task.workdir;
  if (typeof wd !== 'object') return undefined;
  const out: GitWorkdir = wd.ref === undefined ? { url: wd.url } : { url: wd.url, ref: wd.ref };
  const { GIT_TOKEN, GIT_SSH_KEY } = task.secrets;
  const creds = { ...(GIT_TOKEN ? { GIT_TOKEN } : {}), ...(GIT_SSH_KEY ? { GIT_SSH_KEY } : {}) };
  if (Object.keys(creds).length) out.secrets = creds;
  return out;
}
