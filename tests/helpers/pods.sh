# Shared by tests/tls/docker-tls.sh and tests/sidecar/sidecar.sh (sourced, bash).
#
# A "container" here is `unshare --mount --pid --fork --kill-child --mount-proc` (plus --net for
# the one running dockerd): its own mount and pid namespaces, tmpfs over the paths dockerd
# writes (/run, /etc/docker, /var/lib/docker), so nothing on the host changes. Data and
# certificates live under a scratch directory in /tmp, which plays the pod's volumes.
# Started in the background, stopped by PID, cleaned up by a trap.

set -euo pipefail

: "${BIN:?BIN must name the dind-init binary}"
NAME=${NAME:-scenario}
T=$(mktemp -d "/tmp/dind-$NAME.XXXXXX")
LOGS=$T/logs
mkdir -p "$LOGS"
PIDS=()

say() { echo "$NAME: $*" >&2; }
fail() {
	echo "FAIL: $NAME: $*" >&2
	for f in "$LOGS"/*.log; do
		[[ -e $f ]] || continue
		echo "--- last lines of $f" >&2
		tail -n 25 "$f" >&2
	done
	exit 1
}

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# One e2e world at a time on this machine (the same lock as tests/e2e/devpod.sh).
exec 9>"${DEVPOD_LOCK:-/tmp/dind-init-e2e.lock}"
flock -w 900 9 || fail "another e2e scenario held the lock for 15 minutes"

# The setup every Docker container runs before exec'ing its entrypoint.
PRIVATE='mount -t tmpfs tmpfs /run && mkdir -p /etc/docker /var/lib/docker &&
mount -t tmpfs tmpfs /etc/docker && mount -t tmpfs tmpfs /var/lib/docker && ip link set lo up'

# container_start NAME ENV... -- CMD...: start a dockerd container in the background (new
# mount, pid and net namespaces). Sets CPID (unshare's pid).
container_start() {
	local name=$1
	shift
	local envs=()
	while [[ $1 != -- ]]; do
		envs+=("$1")
		shift
	done
	shift
	unshare --mount --propagation private --pid --net --fork --kill-child --mount-proc \
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		DIND_STOP_TIMEOUT=20 DIND_READY_TIMEOUT=60 DIND_REQUIRE_DOCKER=true "${envs[@]}" \
		sh -c "$PRIVATE && exec \"\$@\"" sh "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
	CPID=$!
	PIDS+=("$CPID")
}

# The pid namespace's init seen from here: unshare's only child.
init_of() {
	local kids deadline=$(($(now_ms) + 5000))
	while (($(now_ms) < deadline)); do
		kids=$(cat "/proc/$1/task/$1/children" 2>/dev/null || true)
		if [[ -n ${kids// /} ]]; then
			echo "${kids%% *}"
			return 0
		fi
		sleep 0.01
	done
	fail "no pid-namespace init under unshare $1"
}

# wait_exit PID LIMIT_S: wait for a background container to end; sets RC.
wait_exit() {
	local deadline=$(($(now_ms) + $2 * 1000))
	while kill -0 "$1" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; do
		(($(now_ms) < deadline)) || fail "pid $1 still running after $2 s"
		sleep 0.05
	done
	RC=0
	wait "$1" || RC=$?
}

# busybox_tar PATH: a one-binary image for `docker import` (no registry here).
busybox_tar() {
	local bb d=$T/bb
	bb=$(command -v busybox) || fail "busybox not found (install busybox-static)"
	ldd "$bb" >/dev/null 2>&1 && fail "$bb is dynamically linked; install busybox-static"
	mkdir -p "$d/bin"
	cp "$bb" "$d/bin/busybox"
	for a in sh echo cat true; do ln -s busybox "$d/bin/$a"; done
	tar -C "$d" -cf "$1" .
	chmod 0644 "$1"
}
