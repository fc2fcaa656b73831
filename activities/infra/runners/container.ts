/**
 * SkyPilot's docker mode on VM nodes reached by SSH (`image_id: docker:<image>` on aws, gcp and
 * ssh): the VM keeps its own image; one long-lived container per node (`skyrun-<cluster>`, host
 * network, GPUs passed through, the workdir and SkyRun's node folder mounted at the same paths)
 * runs every phase. The phase's wrapper stays on the node (runners/local.ts WRAPPER), so its pid,
 * exit code and log stay in the job folder as without docker, and STATE works unchanged; the
 * wrapper runs `in_container` (below) instead of the script, which ensures the container (adopts
 * a running one, starts a stopped one, else logs in, pulls and runs it) and then runs the phase in
 * it with `<runtime> exec`. The phase's process group inside the container is recorded
 * (`<phase>.cpid`, with the runtime and container in `<phase>.container`), so KILL
 * (ssh-scripts.ts) kills it inside the container too. The runtime is docker, else podman.
 *
 * A private registry's password (SKYPILOT_DOCKER_PASSWORD, an env or secret of the task) is read
 * from the phase's env file by shell builtins and reaches `login --password-stdin` on a pipe: it
 * is never in a process's arguments, the wrapper's environment or the log.
 */
import type { ClusterHandle, NodeInfo } from '../../../core/cluster';
import { type ContainerSpec, DOCKER_LOGIN_ENV, DOCKER_PREFIX, containerName, dockerImage } from '../../../core/docker';
import { shq } from './ssh-scripts';

/** The container's main process: idle, reaping orphans, ending on `stop`. */
const KEEPALIVE = 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done';

/**
 * Runs in the container (bash only): $1 job dir, $2 phase, $3 workdir. The phase's script runs in
 * its own process group (job control on for that one start), whose id is recorded for KILL.
 */
const INNER = `d=$1; p=$2
[ -r "$d/$p.sh" ] && [ -r "$d/$p.env" ] || { echo "skyrun: the container's user (uid $UID) cannot read $d; use an image that runs as root or as the node's SSH user"; exit 126; }
cd -- "$3" || { echo "skyrun: cannot enter the workdir $3 in the container"; exit 127; }
. "$d/$p.env"
set -m; bash "$d/$p.sh" < /dev/null & c=$!; set +m
echo "$c" > "$d/$p.cpid"
wait "$c"`;

/**
 * Bash functions the wrapper runs with (its $d, $p; SKYRUN_CONTAINER, SKYRUN_IMAGE, SKYRUN_GPUS,
 * SKYRUN_NODE_DIR and SKYRUN_CWD from START). in_container prints what it does to the job's log.
 */
export const CONTAINER_FNS = `
env_val() { ( . "$d/$p.env" > /dev/null 2>&1; printf '%s' "\${!1}" ); }
runtime_answers() { $1 info > /dev/null 2>&1; }
pick_runtime() {
  local i
  if command -v docker > /dev/null 2>&1; then
    runtime_answers docker && { echo docker; return 0; }
    runtime_answers "sudo -n docker" && { echo "sudo -n docker"; return 0; }
  fi
  command -v podman > /dev/null 2>&1 && { echo podman; return 0; }
  if ! command -v docker > /dev/null 2>&1 && command -v apt-get > /dev/null 2>&1 && sudo -n true 2> /dev/null; then
    echo "skyrun: installing docker.io (neither docker nor podman is on the node)" >&2
    sudo -n env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q >&2 &&
      sudo -n env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q docker.io >&2
  fi
  command -v docker > /dev/null 2>&1 || return 1
  for i in $(seq 1 30); do
    runtime_answers docker && { echo docker; return 0; }
    runtime_answers "sudo -n docker" && { echo "sudo -n docker"; return 0; }
    sleep 2
  done
  return 1
}
container_state() { $rt container inspect -f '{{.State.Running}}' "$SKYRUN_CONTAINER" 2> /dev/null; }
container_fits() {
  local m; m=$($rt container inspect -f '{{range .Mounts}}{{.Destination}};{{end}}' "$SKYRUN_CONTAINER" 2> /dev/null) || return 1
  case "$m" in *"$SKYRUN_NODE_DIR;"*) ;; *) return 1 ;; esac
  case "$m" in *"$SKYRUN_CWD;"*) return 0 ;; *) return 1 ;; esac
}
ensure_container() {
  local img=$SKYRUN_IMAGE u srv pw k v shm gpus=() state
  u=$(env_val ${DOCKER_LOGIN_ENV.username}); srv=$(env_val ${DOCKER_LOGIN_ENV.server})
  if [ -n "$srv" ]; then case "$img" in "$srv"/*) ;; *) img=$srv/$img ;; esac; fi
  state=$(container_state)
  if [ -n "$state" ] && ! container_fits; then
    echo "skyrun: replacing the container $SKYRUN_CONTAINER (left by an earlier cluster of that name)"
    $rt rm -f "$SKYRUN_CONTAINER" > /dev/null; state=
  fi
  if [ "$state" = true ]; then return 0; fi
  if [ "$state" = false ]; then
    echo "skyrun: starting the stopped container $SKYRUN_CONTAINER"
    $rt start "$SKYRUN_CONTAINER" > /dev/null && return 0
  fi
  pw=$(env_val ${DOCKER_LOGIN_ENV.password})
  if [ -n "$pw" ]; then
    echo "skyrun: logging in to \${srv:-the default registry} as $u"
    printf '%s\\n' "$pw" | $rt login --username "$u" --password-stdin \${srv:+"$srv"} || return 125
  fi
  pw=
  if ! $rt image inspect "$img" > /dev/null 2>&1; then
    echo "skyrun: pulling $img with \${rt##* }"
    $rt pull "$img" || return 125
  fi
  while read -r k v _; do [ "$k" = MemAvailable: ] && shm=$((v * 3 / 10))k; done < /proc/meminfo
  if [ "$SKYRUN_GPUS" = 1 ]; then
    if [ "\${rt##* }" = podman ]; then gpus=(--device nvidia.com/gpu=all); else gpus=(--gpus all); fi
  fi
  echo "skyrun: starting container $SKYRUN_CONTAINER from $img"
  $rt run -d --name "$SKYRUN_CONTAINER" --label skyrun-container=1 --network host \${shm:+--shm-size "$shm"} "\${gpus[@]}" \\
    -v "$SKYRUN_CWD:$SKYRUN_CWD" -v "$SKYRUN_NODE_DIR:$SKYRUN_NODE_DIR" --entrypoint bash "$img" -c ${shq(KEEPALIVE)} > /dev/null ||
    [ "$(container_state)" = true ]
}
in_container() {
  rt=$(pick_runtime) || { echo "skyrun: neither docker nor podman answers on this node; install one (docker: its daemon must run) to use image_id: docker:..."; return 127; }
  if exec 9> "$SKYRUN_NODE_DIR/container.lock"; then command -v flock > /dev/null 2>&1 && flock 9; fi
  ensure_container 9>&- || { echo "skyrun: cannot start the container $SKYRUN_CONTAINER from $SKYRUN_IMAGE"; return 125; }
  printf '%s\\n%s\\n' "$rt" "$SKYRUN_CONTAINER" > "$SKYRUN_NODE_DIR/container"
  exec 9>&-
  printf '%s\\n%s\\n' "$rt" "$SKYRUN_CONTAINER" > "$d/$p.container"
  $rt exec "$SKYRUN_CONTAINER" bash -c ${shq(INNER)} bash "$d" "$p" "$SKYRUN_CWD"
}
`;

/**
 * $1 a cluster's node folder, relative to ~: its container (when docker mode made one) is
 * removed, then the folder.
 */
export const REMOVE_NODE_DIR = `f="$HOME/$1/container"
if [ -f "$f" ]; then { read -r rt; read -r cn; } < "$f"; [ -n "$cn" ] && $rt rm -f "$cn" > /dev/null 2>&1; fi
rm -rf -- "$HOME/$1"`;

/**
 * The handle with docker mode on its SSH nodes when `imageId` is `docker:<image>` (GPUs passed
 * through when the offer has accelerators). Other nodes are left as they are: a pod runs the
 * image itself, and local nodes never get a docker image (the optimizer leaves them out).
 */
export function withContainer(handle: ClusterHandle, imageId: string | undefined): ClusterHandle {
  const image = dockerImage(imageId);
  if (!image) return handle;
  const container: ContainerSpec = {
    image,
    name: containerName(handle.clusterName),
    gpus: (handle.offer.accelerator?.count ?? 0) > 0,
  };
  const nodes: NodeInfo[] = handle.nodes.map((n) =>
    n.runner.kind === 'ssh' ? { ...n, runner: { ...n.runner, container } } : n,
  );
  return { ...handle, nodes };
}

/** The `docker:<image>` a handle's nodes run in, to keep docker mode over a stop and start. */
export function containerImageOf(handle: ClusterHandle): string | undefined {
  for (const n of handle.nodes) {
    if (n.runner.kind === 'ssh' && n.runner.container) return `${DOCKER_PREFIX}${n.runner.container.image}`;
  }
  return undefined;
}
