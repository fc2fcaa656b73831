/**
 * The SSH runner's remote side: quoting, the `<phase>.env` file, and the fixed bash scripts it
 * runs on a node. User values never reach a shell unquoted: every remote command is built from
 * words quoted by `shq`, and a script takes values only as positional arguments (bashCommand).
 * Every path a user controls is passed after `--` (or is absolute), so no name is an option.
 */
import { ProviderError } from '../../../core/errors';
import { WRAPPER_RECHECKS, checkEnvValues, safeName, type PhaseState } from './runner';

/** Quote one word for a POSIX shell (also bash, zsh, fish): the project's only quoting function. */
export function shq(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `bash -c SCRIPT bash ARGS...`: a fixed script, with every value passed as a quoted argument. */
export function bashCommand(script: string, args: (string | number)[]): string {
  return ['bash', '-c', script, 'bash', ...args.map(String)].map(shq).join(' ');
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The `<phase>.env` file the wrapper sources: one `export NAME='value'` per variable. */
export function envFile(env: Record<string, string>): string {
  checkEnvValues(env);
  return Object.entries(env)
    .map(([k, v]) => {
      if (!ENV_NAME.test(k)) throw new ProviderError('invalid', `invalid environment variable name ${safeName(k)}`);
      return `export ${k}=${shq(v)}\n`;
    })
    .join('');
}

// ---------------------------------------------------------------------------------------------
// Remote scripts (bash). Positional arguments only; see bashCommand.

/** alive PID: the process exists and is not a zombie */
export const ALIVE = `alive() { kill -0 "$1" 2>/dev/null || return 1; [ -r "/proc/$1/stat" ] || return 0
  local s; read -r s < "/proc/$1/stat" || return 1; s=\${s##*) }; s=\${s%% *}; [ "$s" != Z ] && [ "$s" != X ]; }`;

/**
 * ours PID PHASE: PID is still the wrapper of this job's PHASE (its environment names the job
 * folder $d and the phase), not an unrelated process that got a stale pid file's number.
 */
export const OURS = `ours() { [ -d /proc/self ] || return 0
  [ "$(tr '\\0' '\\n' 2>/dev/null < "/proc/$1/environ" | grep -cxF -e "SKYRUN_JOB_DIR=$d" -e "SKYRUN_PHASE=$2")" = 2 ]; }`;

/** $1 job dir, $2 phase, $3 workdir. Prints "adopt" when the phase was started before. */
export const PREPARE = `mkdir -p -- "$1" "$3" || exit 1
if [ -e "$1/$2.pid" ] || [ -e "$1/$2.exit" ]; then echo adopt; fi`;

/**
 * $1 job dir, $2 phase, $3 workdir, $4 upload nonce, $5 wrapper; in docker mode (else empty)
 * $6 container, $7 image, $8 gpus (1 or 0), $9 node folder (runners/container.ts). The uploads
 * are hard-linked into place: a link never replaces a file, so the first start's script and env
 * stay, whole, and no later start truncates them under a running wrapper. Waits for the pid file.
 */
export const START = `d=$1; p=$2
ln -- "$d/$p.env.$4" "$d/$p.env" 2>/dev/null; ln -- "$d/$p.sh.$4" "$d/$p.sh" 2>/dev/null
rm -f -- "$d/$p.env.$4" "$d/$p.sh.$4"
[ -f "$d/$p.sh" ] && [ -f "$d/$p.env" ] || { echo "the phase's files are missing in $d" >&2; exit 1; }
SKYRUN_JOB_DIR=$d SKYRUN_PHASE=$p SKYRUN_CWD=$3 SKYRUN_ENV_FILE=1 SKYRUN_CONTAINER=$6 SKYRUN_IMAGE=$7 SKYRUN_GPUS=$8 \\
  SKYRUN_NODE_DIR=$9 setsid nohup bash -c "$5" > /dev/null 2>&1 < /dev/null &
for i in $(seq 1 500); do { [ -e "$d/$p.pid" ] || [ -e "$d/$p.exit" ]; } && exit 0; sleep 0.01; done`;

/**
 * START with the phase's files on stdin, in one command: $1 job dir, $2 phase, $3 workdir, $4
 * nonce, $5 the script's size, then START's $5 on (the wrapper; docker mode's arguments); stdin:
 * the script then the env file. PREPARE, then (unless adopted) the two files under the nonce
 * (mode 0700 and 0600), then START. Prints "adopt" when the phase was started before.
 */
export const START_WITH_FILES = `prepare() {
${PREPARE}
}
start() {
${START}
}
a=$(prepare "$1" "$2" "$3") || exit 1
if [ "$a" = adopt ]; then echo adopt; exit 0; fi
in="$1/$2.in.$4"
( umask 077; cat > "$in" && head -c "$5" -- "$in" > "$1/$2.sh.$4" && tail -c +"$(($5 + 1))" -- "$in" > "$1/$2.env.$4" ) || exit 1
rm -f -- "$in"; chmod 700 -- "$1/$2.sh.$4"
start "$1" "$2" "$3" "$4" "\${@:6}"`;

/**
 * $1 job dir, $2 phase. Prints: absent | starting | running PID | done CODE | lost. A live pid
 * that does not look ours is asked again for a moment (WRAPPER_RECHECKS): during an exec a
 * process's environment reads empty. The exit file is read after `alive` said no, never before:
 * a wrapper writes it before it ends.
 */
export const STATE = `${ALIVE}
${OURS}
d=$1; p=$2
if [ -f "$d/$p.exit" ]; then echo "done $(cat -- "$d/$p.exit")"; exit 0; fi
if [ -f "$d/$p.pid" ]; then
  pid=$(cat -- "$d/$p.pid")
  for i in $(seq 1 ${WRAPPER_RECHECKS}); do
    if alive "$pid" && ours "$pid" "$p"; then echo "running $pid"; exit 0; fi
    a=0; alive "$pid" && a=1
    if [ -f "$d/$p.exit" ]; then echo "done $(cat -- "$d/$p.exit")"; exit 0; fi
    [ $a = 1 ] || break; sleep 0.02
  done
  echo lost; exit 0
fi
if [ -d "$d/$p.lock" ]; then
  if [ $(( $(date +%s) - $(stat -c %Y -- "$d/$p.lock") )) -gt 30 ]; then echo lost; else echo starting; fi
  exit 0
fi
echo absent`;

/**
 * $1 job dir, $2 phase, $3 tens of ms: waits on the node until the phase's exit file exists (or
 * its pid is gone) or that time has passed, then prints what STATE prints. One round trip tells
 * the end of a short phase as soon as it happens.
 */
export const WAIT_STATE = `${ALIVE}
for i in $(seq 1 "$3"); do
  [ -f "$1/$2.exit" ] && break
  if [ -f "$1/$2.pid" ]; then alive "$(cat -- "$1/$2.pid")" || break; fi
  sleep 0.01
done
state() {
${STATE}
}
state "$1" "$2"`;

/** STATE's answer as a PhaseState (undefined: not one of its answers). */
function parseState(out: string): PhaseState | undefined {
  const [state, n] = out.trim().split(' ');
  const num = parseInt(n ?? '', 10);
  switch (state) {
    case 'done':
      return { state: 'done', exitCode: Number.isFinite(num) ? num : 255 };
    case 'running':
      return { state: 'running', pid: num };
    case 'absent':
    case 'starting':
    case 'lost':
      return { state };
    default:
      return undefined;
  }
}

/** The phase state a STATE script printed on the node `where`; anything else is an unknown error. */
export function phaseStateFrom(out: string, where: string): PhaseState {
  const state = parseState(out);
  if (state) return state;
  throw new ProviderError('unknown', `${where}: unexpected phase state ${JSON.stringify(out.slice(0, 80))}`);
}

/**
 * inside SIGNAL: in docker mode, signal the phase's process group inside its container (its
 * runtime and container in $d/$p.container, the group in $d/$p.cpid once the phase started there).
 */
const INSIDE = `inside() { [ -f "$d/$p.container" ] || return 0
  local rt cn c i; { read -r rt; read -r cn; } < "$d/$p.container"
  for i in $(seq 1 20); do [ -s "$d/$p.cpid" ] && break; sleep 0.1; done
  c=$(cat -- "$d/$p.cpid" 2>/dev/null)
  [[ "$c" =~ ^[0-9]+$ ]] && $rt exec "$cn" bash -c 'kill -"$1" -- "-$2"' bash "$1" "$c" > /dev/null 2>&1; return 0; }`;

/**
 * $1 job dir. TERM then KILL each live phase's process group, only while its recorded pid is
 * still the phase's wrapper; record 143 like the local runner. In docker mode the phase's group
 * in the container goes first: its wrapper then records the phase's own exit code.
 */
export const KILL = `${ALIVE}
${OURS}
${INSIDE}
d=$1
for p in setup run; do
  { [ -f "$d/$p.pid" ] && [ ! -f "$d/$p.exit" ]; } || continue
  pid=$(cat -- "$d/$p.pid")
  if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && ours "$pid" "$p"; then
    if [ -f "$d/$p.container" ]; then
      inside TERM
      for i in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
      alive "$pid" && inside KILL
    fi
    kill -TERM -- "-$pid" 2>/dev/null
    for i in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
    for i in $(seq 1 50); do alive "$pid" || break; sleep 0.02; done
  fi
  [ -f "$d/$p.exit" ] || echo 143 > "$d/$p.exit"
done`;

/** $1 file, $2 offset, $3 max bytes. */
export const READ_LOG = `[ -f "$1" ] || exit 0; tail -c +$(($2 + 1)) -- "$1" | head -c "$3"`;

/** $1 workdir. Creates it and the NUL-separated dirs on stdin; lists files as path\\0size\\0mtime\\0. */
export const SYNC_PREPARE = `mkdir -p -- "$1" && cd -- "$1" && xargs -0 -r mkdir -p -- && find . -type f -printf '%P\\0%s\\0%T@\\0'`;

/** $1 folder; stdin: a tar (tar.ts). Files keep their mode and mtime, not their owner. */
export const EXTRACT = 'mkdir -p -- "$1" && tar -x -p --no-same-owner -f - -C "$1"';

/** $1 folder: the job ids in it. */
export const LIST_JOBS = 'ls -- "$1" 2>/dev/null || true';

/**
 * What the scripts above, the wrapper (local.ts WRAPPER) and the file copy run on a node, besides
 * shell builtins; `find` must also know GNU's -printf. Docker mode's runtime (docker or podman) is
 * not here: in_container (container.ts) names it in the job's log when it is missing.
 */
export const NODE_TOOLS = [
  'bash',
  'cat',
  'chmod',
  'date',
  'find',
  'grep',
  'head',
  'ln',
  'ls',
  'mkdir',
  'mv',
  'nohup',
  'rm',
  'seq',
  'setsid',
  'sleep',
  'stat',
  'tail',
  'tar',
  'tr',
  'xargs',
] as const;

/**
 * For `sh -c` (any POSIX shell; the login shell may be another): the remote $HOME on the first
 * line, then the NODE_TOOLS missing from PATH, space-separated (`find -printf` when find lacks it).
 */
export const PREFLIGHT = `printf '%s\\n' "$HOME"; m=
for t in ${NODE_TOOLS.join(' ')}; do command -v "$t" > /dev/null 2>&1 || m="$m $t"; done
case "$m" in *" find"*) ;; *) find / -maxdepth 0 -printf '' > /dev/null 2>&1 || m="$m find-printf";; esac
printf '%s' "$m"`;

/** ProviderError.code of a host that lacks NODE_TOOLS (SshRunner.preflight). */
export const MISSING_TOOLS = 'MISSING_TOOLS';

/** PREFLIGHT's answer: the home folder and what is missing. */
export function parsePreflight(out: string): { home: string; missing: string[] } {
  const nl = out.indexOf('\n');
  const home = nl < 0 ? out : out.slice(0, nl);
  const missing = (nl < 0 ? '' : out.slice(nl + 1)).split(' ').filter(Boolean);
  return { home, missing: missing.map((t) => (t === 'find-printf' ? 'find -printf (GNU find)' : t)) };
}
