/**
 * A git workdir (`workdir: {url, ref}`): the repository is cloned into the node's workdir
 * (~/sky_workdir) by GIT_CLONE, the same script on every kind of node (a local folder, an SSH host,
 * a pod). It is idempotent: a clone already there is fetched and checked out again (no change when
 * it is already at the commit), so a retried activity or a second job adopts it.
 *
 * Credentials never reach a command line or the log: they go on the script's stdin (GIT_TOKEN on
 * the first line, then GIT_SSH_KEY's text), into files (0600) in a private temporary folder that is
 * removed when the script ends. The token is handed to git by GIT_ASKPASS (a script that `cat`s the
 * file), the key by GIT_SSH_COMMAND (`ssh -i <file>`).
 */
import type { GitWorkdir } from '../../../core/cluster';
import { ProviderError, type ErrorClass } from '../../../core/errors';

/** Exit codes of GIT_CLONE that say what went wrong (anything else: git failed; retried). */
const NO_GIT = 20;
const NO_REF = 21;
const REMOTE = 22;
const OTHER_REPO = 23;

/**
 * $1 the workdir, $2 the URL, $3 the ref (empty: the remote's default branch); stdin: the token's
 * line, then the SSH key. The last line of stderr says why it failed.
 */
export const GIT_CLONE = `set -u
dest=$1 url=$2 ref=$3
fail() { printf '%s\\n' "$2" >&2; exit "$1"; }
command -v git > /dev/null 2>&1 || fail ${NO_GIT} "git is not installed on the node"
t=$(mktemp -d) || fail 1 "cannot make a temporary folder"
trap 'rm -rf -- "$t"' EXIT
chmod 700 "$t"
IFS= read -r token || true
(umask 077; cat > "$t/key")
export GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=/bin/false SSH_ASKPASS=/bin/false
if [ -n "$token" ]; then
  (umask 077; printf '%s' "$token" > "$t/token")
  printf '#!/bin/sh\\ncase "$1" in Username*) echo x-access-token;; *) cat "%s/token";; esac\\n' "$t" > "$t/askpass"
  chmod 700 "$t/askpass"
  GIT_ASKPASS="$t/askpass"
fi
unset token
# a host key the node knows is checked; an unknown host is trusted for this clone only (no file changes)
export GIT_SSH_COMMAND="ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o 'UserKnownHostsFile=$t/known_hosts ~/.ssh/known_hosts'"
[ -s "$t/key" ] && GIT_SSH_COMMAND="$GIT_SSH_COMMAND -o IdentitiesOnly=yes -i $t/key"
why='permission denied|authentication failed|could not read (username|password)|host key verification|not found|does not (appear|exist)'
remote() {
  git "$@" 2> "$t/err" && return 0
  { grep -m 1 -iE "$why" "$t/err" || grep -m 1 '^fatal:' "$t/err" || grep -m 1 '^error:' "$t/err" || tail -n 1 "$t/err"; } >&2
  exit ${REMOTE}
}
mkdir -p -- "$dest" && cd -- "$dest" || fail 1 "cannot enter $dest"
[ -d .git ] || git -c init.defaultBranch=main init -q . || fail 1 "git init failed in $dest"
have=$(git config --get remote.origin.url || true)
if [ -z "$have" ]; then git remote add origin "$url"
elif [ "\${have%.git}" != "\${url%.git}" ]; then
  fail ${OTHER_REPO} "$dest already holds a clone of $have; remove it (or use another cluster) to clone $url"
fi
refs=$(remote ls-remote origin) || exit $?
has() { printf '%s\\n' "$refs" | awk -v r="$1" '$2 == r { f = 1 } END { exit !f }'; }
if [ -z "$ref" ]; then
  head=$(remote ls-remote --symref origin HEAD) || exit $?
  ref=$(printf '%s\\n' "$head" | sed -n 's|^ref: refs/heads/\\(.*\\)\tHEAD$|\\1|p')
  [ -n "$ref" ] || fail ${NO_REF} "the repository has no default branch"
fi
if has "refs/heads/$ref"; then
  remote fetch -q origin "+refs/heads/$ref:refs/remotes/origin/$ref" || exit $?
  git checkout -q -f -B "$ref" "refs/remotes/origin/$ref" || fail 1 "cannot check out branch $ref"
elif has "refs/tags/$ref"; then
  remote fetch -q origin "+refs/tags/$ref:refs/tags/$ref" || exit $?
  git checkout -q -f --detach "refs/tags/$ref^{commit}" || fail 1 "cannot check out tag $ref"
elif printf '%s' "$ref" | grep -Eq '^[0-9a-fA-F]{4,40}$'; then
  if ! git cat-file -e "$ref^{commit}" 2> /dev/null; then
    remote fetch -q origin "+refs/heads/*:refs/remotes/origin/*" "+refs/tags/*:refs/tags/*" || exit $?
  fi
  # a full SHA that no branch or tag reaches (e.g. a pull request's): the server may still give it
  git cat-file -e "$ref^{commit}" 2> /dev/null || [ \${#ref} -ne 40 ] || git fetch -q origin "$ref" 2> /dev/null
  git cat-file -e "$ref^{commit}" 2> /dev/null || fail ${NO_REF} "no commit $ref in $url"
  git checkout -q -f --detach "$ref" || fail 1 "cannot check out commit $ref"
else
  fail ${NO_REF} "no branch, tag or commit named $ref in $url"
fi
git rev-parse HEAD`;

/** GIT_CLONE's stdin: the token's line, then the SSH key (both may be empty). */
export function cloneStdin(git: GitWorkdir): Buffer {
  const token = (git.secrets?.GIT_TOKEN ?? '').replace(/[\r\n]/g, '');
  return Buffer.from(`${token}\n${git.secrets?.GIT_SSH_KEY ?? ''}`);
}

/** GIT_CLONE's arguments, the workdir first. */
export function cloneArgs(dest: string, git: GitWorkdir): string[] {
  return [dest, git.url, git.ref ?? ''];
}

/** How long a clone may take (the sync activity's own limit is 30 minutes). */
export const CLONE_TIMEOUT_MS = 25 * 60_000;

/** What a failed GIT_CLONE says: one line, classed so that only what a retry may fix retries. */
export function cloneFailure(where: string, git: GitWorkdir, code: number, stderr: string): ProviderError {
  const last = stderr.trim().split('\n').pop()?.trim() || `exit code ${code}`;
  const what = `${where}: git workdir ${git.url}${git.ref ? ` at ${git.ref}` : ''}`;
  const cls: ErrorClass =
    code === NO_GIT
      ? 'config'
      : code === NO_REF || code === OTHER_REPO
        ? 'invalid'
        : code === REMOTE
          ? remoteClass(last)
          : 'transient';
  const hint =
    code === NO_GIT
      ? ' (install git on the node, or use a local workdir)'
      : cls === 'auth'
        ? ' (set GIT_TOKEN for an HTTPS URL, or GIT_SSH_KEY_PATH for an SSH URL, where you launch)'
        : '';
  // a password written into the URL (user:pass@host) is the user's choice, but never repeated
  return new ProviderError(cls, `${what}: ${last}${hint}`.replace(/(\/\/[^/@:\s]+):[^/@\s]+@/g, '$1:<redacted>@'));
}

/** A remote's refusal by git's own words: no such repository, no access, or (else) a network hiccup. */
function remoteClass(line: string): ErrorClass {
  if (
    /authentication failed|could not read (username|password)|permission denied|host key verification|403|401/i.test(
      line,
    )
  )
    return 'auth';
  if (/not found|does not appear to be a git repository|does not exist|no such file|not a git repository/i.test(line))
    return 'invalid';
  return 'transient';
}
