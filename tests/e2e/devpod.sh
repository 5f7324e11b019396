#!/usr/bin/env bash
# The simulated devpod of the seed incident (../../../shared/seeds/), for the end-to-end tests
# and the demo. Needs root. Everything happens inside a private mount namespace and is undone
# by a trap: pods are killed by PID, mounts are unmounted in reverse order, loop devices are
# detached, the temp dir is removed.
#
# The pod, as Kubernetes + k3s containerd builds it:
#   node disk   ext4 loop image (the node's disk holding containerd's snapshots): 5 image
#               layers and the container's upper/work dirs
#   /           overlay: lowerdir = 5 image layers + the host's / (so bash, dockerd, docker,
#               runc, busybox are there), upperdir on the node disk
#   /home/coder ext4 loop image, 2 GiB sparse: the PVC
#   /dev        tmpfs with the usual device nodes, devpts, /dev/shm; /sys bind of the host's
#   /run /tmp   tmpfs;  /proc mounted by unshare for the pod's pid namespace
#   /opt/trixie Debian trixie's docker.io 26.1 + containerd 1.7 (from .cache/trixie, read-only)
#   /opt/sid    or Debian sid's docker.io 28.5 + containerd 2.1 (from .cache/sid, read-only)
# The pod's entrypoint is PID 1 of new pid, mount and network namespaces, chrooted into /.
# /var/lib/docker is a plain dir on the overlay root, so Docker's own overlay mounts there fail.
#
# Usage: devpod.sh [--engine bookworm|trixie|sid] [--store graphdriver|containerd]
#                  [--mode managed|separate|auto] [--bin DIND_INIT] [--capture FILE] SCENARIO
# Engines and image stores: bookworm (Docker 20.10): graphdriver only, "storage-driver":
# "overlay2" in daemon.json; trixie (Docker 26.1): the containerd image store; sid (Docker
# 28.5): either, graphdriver (overlay2 in daemon.json) by default, `--store containerd` sets
# "features": {"containerd-snapshotter": true} (what makes Docker 29 fail in the seed's pod).
# Scenarios:
#   without      (a) no dind-init: dockerd is the entrypoint and fails like the seed
#   manual-fix   no dind-init: the seed's manual fix (--data-root on the PVC) works here
#   basic        (b) dind-init as PID 1: overlay driver on ext4, build and run as uid 1000,
#                `dind-init status` (the readiness probe) answers ready for uid 1000
#   persist      (c) a second pod start on the same PVC keeps images and volumes
#   sigterm      (d) SIGTERM to PID 1 with a container running: ordered, clean, exit 42
#   stale        (e) SIGKILL of the whole pod; stale pidfiles do not block the next start
#   mode-switch  (issue 7) start in managed mode, restart in separate mode: data kept
#   restart      (issue 5 item 5, issue 7 item 3) SIGKILL of dockerd (and, in separate mode,
#                then of containerd) from outside while the session runs: dind-init restarts
#                it, the session lives on, Docker answers and runs a container again
#   keepvfs      (issue 4) run 1 pins DIND_STORAGE_DRIVER=vfs (native with the
#                containerd image store); run 2 on the same PVC with it unset keeps that driver
#   day1, day1-degraded, day1-nonroot  (issue 11) the example pod (examples/k8s/devpod.yaml) on a fresh
#                root-owned volume, its probes run by tests/probes/kubelet-probes.py:
#                tests/day1/scenario.sh
#   volfull      (issue 10) overlay images on the PVC, then the PVC filled to the last block:
#                dind-init keeps the overlay driver, Docker answers and lists the images,
#                "volume full" is named; the same with 64 KiB free (dockerd starts, its smoke
#                test hits ENOSPC); with the space freed the next start is healthy
#   explain      the seed's pod WITHOUT dind-init as PID 1: `dind-init plan`, `doctor` and
#                `status` as root and as coder explain the fix and change nothing
#   cg2-control  (issue 14, tests/vm only) dockerd by hand in a cgroup v2 pod: docker run
#                --memory fails (runc: cannot enter cgroupv2 … with domain controllers)
#   cg2-nest     (issue 14, tests/vm only) dind-init as PID 1 there: the basic checks, and the
#                container gets memory, pids and cpu limits; the pod's root cgroup is empty
#   cg2-life     (issue 14, tests/vm only) restart, sigterm and persist as one pod lifecycle on
#                one PVC: run 1 writes persist's data, its daemons are SIGKILLed and restarted,
#                then SIGTERM with a container running; run 2 (pod recreated) finds the data
# DEVPOD_CGROUP2_POD=DIR (tests/vm only) places each pod alone in DIR/podN, own cgroupns and
#                cgroup2 mount, as on a cgroup v2 node (see cg2_pod_wrap).
# --capture FILE (explain only): write the real `doctor` and `plan` output, as root, into FILE
#                (docs/doctor-seed.md, which the README includes), once the assertions pass.
# Exit 0 when the scenario's assertions hold. Lines "evidence: …" are the key facts.
set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$E2E_DIR/../.." && pwd)

ENGINE=bookworm
STORE=
MODE=separate
BIN=
CAPTURE=
SCENARIO=
while (($#)); do
	case $1 in
	--engine) ENGINE=$2; shift 2 ;;
	--store) STORE=$2; shift 2 ;;
	--mode) MODE=$2; shift 2 ;;
	--bin) BIN=$2; shift 2 ;;
	--capture) CAPTURE=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "devpod.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) SCENARIO=$1; shift ;;
	esac
done
# --- engine and image store (issue 14: sid's Docker 28.5 + containerd 2.1 is the third engine)
case $ENGINE:${STORE:-} in
bookworm: | bookworm:graphdriver) STORE=graphdriver ;;
trixie: | trixie:containerd) STORE=containerd ;;
sid: | sid:graphdriver) STORE=graphdriver ;;
sid:containerd) ;;
bookworm:* | trixie:* | sid:*) echo "devpod.sh: engine $ENGINE has no --store '$STORE' here (bookworm: graphdriver, trixie: containerd, sid: either)" >&2; exit 2 ;;
*) echo "devpod.sh: --engine must be bookworm, trixie or sid, not '$ENGINE'" >&2; exit 2 ;;
esac
# --- end engine and image store
case $MODE in managed | separate | auto) ;; *) echo "devpod.sh: --mode must be managed, separate or auto, not '$MODE'" >&2; exit 2 ;; esac
case $SCENARIO in
without | manual-fix) ;;
cg2-control) ;;
cg2-nest | cg2-life) ;&
basic | persist | sigterm | stale | mode-switch | explain | restart | keepvfs | day1 | day1-* | volfull)
	[[ -n $BIN ]] || { echo "devpod.sh: scenario $SCENARIO needs --bin PATH-TO-dind-init" >&2; exit 2; }
	[[ -x $BIN ]] || { echo "devpod.sh: --bin $BIN is not an executable file (build it: cargo build --release)" >&2; exit 2; }
	BIN=$(realpath "$BIN")
	;;
*) echo "devpod.sh: unknown scenario '$SCENARIO' (see --help)" >&2; exit 2 ;;
esac
if [[ -n $CAPTURE ]]; then
	[[ $SCENARIO == explain ]] || { echo "devpod.sh: --capture is for the explain scenario only" >&2; exit 2; }
	CAPTURE=$(realpath -m "$CAPTURE")
	[[ -d $(dirname "$CAPTURE") ]] || { echo "devpod.sh: --capture $CAPTURE: no such directory" >&2; exit 2; }
fi
[[ $(id -u) == 0 ]] || { echo "devpod.sh: needs root (namespaces, mounts, loop devices, dockerd)" >&2; exit 2; }

# Re-enter in a private mount namespace: every mount made below dies with it, even on SIGKILL.
if [[ -z ${DEVPOD_IN_NS:-} ]]; then
	exec unshare --mount --propagation private env DEVPOD_IN_NS=1 bash "$0" --engine "$ENGINE" --store "$STORE" \
		--mode "$MODE" ${BIN:+--bin "$BIN"} ${CAPTURE:+--capture "$CAPTURE"} "$SCENARIO"
fi

TRIXIE=${DEVPOD_TRIXIE:-$REPO/.cache/trixie/root}
# --- the engine's unpacked tree (none for bookworm: the host's own Docker), bound at /opt/$ENGINE
case $ENGINE in
trixie) EROOT=$TRIXIE ;;
sid) EROOT=${DEVPOD_SID:-$REPO/.cache/sid/root} ;;
*) EROOT= ;;
esac
# --- end engine tree
STOP_TIMEOUT=${DEVPOD_STOP_TIMEOUT:-15}
POD_TIMEOUT=${DEVPOD_POD_TIMEOUT:-60}   # a healthy pod run takes a few seconds
READY_TIMEOUT=${DEVPOD_READY_TIMEOUT:-20}
T0=$(date +%s%3N)

now_ms() { date +%s%3N; }
say() {
	local ms=$(($(now_ms) - T0))
	printf '[devpod %3d.%01ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}
fail() {
	echo "FAIL: $ENGINE/$SCENARIO/$MODE: $*" >&2
	exit 1
}

# One e2e world at a time on this machine (loop devices, cgroup paths, CPU for timing).
exec 9>"${DEVPOD_LOCK:-/tmp/dind-init-e2e.lock}"
flock -w 900 9 || fail "another devpod.sh held the lock for 15 minutes"

T=$(mktemp -d /tmp/dind-e2e.XXXXXX)
ROOT=$T/root
NODE=$T/node
LOGS=$T/logs
UPPER=$NODE/snapshots/upper/fs
mkdir -p "$ROOT" "$NODE" "$LOGS"

MOUNTS=()  # stack of mount points, unmounted in reverse order
PODS=()    # unshare PIDs of pods started in the background
KEEP_LOGS=${DEVPOD_KEEP_LOGS:-}

mnt() { # mnt MOUNT-ARGS... TARGET: mount and remember TARGET for the cleanup
	mount "$@"
	MOUNTS+=("${!#}")
}

unmount_to() { # unmount_to N: pop the mount stack down to N entries, newest first
	local keep=$1 i target
	for ((i = ${#MOUNTS[@]} - 1; i >= keep; i--)); do
		target=${MOUNTS[i]}
		if mountpoint -q "$target"; then
			umount -R "$target" 2>/dev/null || umount -R -l "$target" || echo "devpod: cannot unmount $target" >&2
		fi
		unset 'MOUNTS[i]'
	done
}

# --- the timings file (scripts/test's target/test-logs/e2e-timings.txt; scripts/matrix renders
# it as the README's tested matrix). One line per run, whitespace-separated columns:
#   engine store scenario mode result wall-ms "ms" kernel-release cgroup-mode
# mode: managed|separate (dind-init as PID 1), man2sep (mode-switch) or - (no dind-init as PID 1);
# cgroup-mode: v1, hybrid or v2, of the machine the pod ran on.
cgroup_mode() {
	case $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) in
	cgroup2fs) echo v2 ;;
	tmpfs) if [[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then echo hybrid; else echo v1; fi ;;
	*) echo unknown ;;
	esac
}
timing_line() { # timing_line RC
	local mode=-
	if [[ $SCENARIO == mode-switch ]]; then
		mode=man2sep
	elif [[ -n $BIN && $SCENARIO != explain ]]; then
		mode=$MODE
	fi
	printf '%-8s %-11s %-11s %-8s %-4s %6d ms %s %s\n' "$ENGINE" "$STORE" "$SCENARIO" "$mode" \
		"$( (($1 == 0)) && echo PASS || echo FAIL)" $(($(now_ms) - T0)) "$(uname -r)" "$(cgroup_mode)"
}
# --- end timings file

cleanup() {
	local rc=$? pid
	set +e
	for pid in "${PODS[@]}"; do
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	done
	for pid in "${PODS[@]}"; do wait "$pid" 2>/dev/null; done
	unmount_to 0
	# mount -o loop sets autoclear; detach explicitly anything still bound to our images.
	for img in "$T/node.img" "$T/pvc.img"; do
		for l in $(losetup -j "$img" -O NAME -n 2>/dev/null); do losetup -d "$l"; done
	done
	if ((rc != 0)) || [[ -n $KEEP_LOGS ]]; then
		for f in "$LOGS"/*.log; do
			[[ -e $f ]] || continue
			echo "----- pod log $(basename "$f") (last 60 lines) -----" >&2
			tail -n 60 "$f" >&2
		done
	fi
	if [[ -n ${DEVPOD_TIMINGS:-} ]]; then
		timing_line "$rc" >>"$DEVPOD_TIMINGS"
	fi
	# Never delete through a mount: only when nothing is mounted below $T any more.
	if grep -q " $T" /proc/self/mountinfo; then
		echo "devpod: mounts left under $T; not removing it" >&2
	else
		rm -rf --one-file-system "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the node and the image

# The node disk and the PVC, each an ext4 loop image (sparse files, so creation is instant).
make_disks() {
	truncate -s 2G "$T/node.img"
	mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$T/node.img"
	mnt -o loop "$T/node.img" "$NODE"
	truncate -s 2G "$T/pvc.img"
	mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 "$T/pvc.img"
}

# The devpod image: 5 layers, as an image build would make them.
make_layers() {
	local l=$NODE/snapshots
	mkdir -p "$l"/{1,2,3,4,5}/fs
	# 1: base marker
	mkdir -p "$l/1/fs/etc"
	echo "simulated devpod (dind-init e2e), engine $ENGINE" >"$l/1/fs/etc/devpod-release"
	# The devpod's docker CLI is its engine's Debian one: a whiteout hides any other docker
	# the host has in /usr/local/bin.
	if [[ -e /usr/local/bin/docker ]]; then
		mkdir -p "$l/1/fs/usr/local/bin"
		mknod "$l/1/fs/usr/local/bin/docker" c 0 0
	fi
	# A new pod from the image has no Docker data: whiteouts hide whatever the host's own
	# Docker or containerd left in /var/lib (it would show through the host's / layer and
	# make dind-init plan for "data already on the overlay" instead of the seed's fresh pod).
	local d
	for d in /var/lib/docker /var/lib/containerd; do
		if [[ -e $d ]]; then
			mkdir -p "$l/1/fs/var/lib"
			mknod "$l/1/fs$d" c 0 0
		fi
	done
	# 2: Docker's config as the devpod image ships it. keepvfs tests the driver left to auto
	# (DIND_STORAGE_DRIVER unset), which the seed's "storage-driver" in daemon.json would pin.
	mkdir -p "$l/2/fs/etc/docker"
	if [[ $STORE == graphdriver && $SCENARIO == keepvfs ]]; then
		echo '{"bridge": "none", "iptables": false, "ip6tables": false}'
	elif [[ $SCENARIO == explain ]]; then
		# explain starts no dockerd, and its --capture is the README's doctor/plan output:
		# the seed's own daemon.json, without the network overrides the harness needs.
		if [[ $STORE == graphdriver ]]; then echo '{"storage-driver": "overlay2"}'; else echo '{"features": {"containerd-snapshotter": true}}'; fi
	elif [[ $STORE == graphdriver ]]; then
		echo '{"storage-driver": "overlay2", "bridge": "none", "iptables": false, "ip6tables": false}'
	else
		echo '{"features": {"containerd-snapshotter": true}, "bridge": "none", "iptables": false, "ip6tables": false}'
	fi >"$l/2/fs/etc/docker/daemon.json"
	# 3: the test steps and a busybox image tar (no registry here)
	mkdir -p "$l/3/fs/opt/e2e" "$T/bb/bin" ${EROOT:+"$l/3/fs/opt/$ENGINE"}
	install -m 0755 "$E2E_DIR/pod.sh" "$l/3/fs/opt/e2e/pod.sh"
	local bb
	bb=$(command -v busybox) || fail "busybox not found (scripts/deps installs busybox-static)"
	ldd "$bb" >/dev/null 2>&1 && fail "$bb is dynamically linked; install busybox-static"
	cp "$bb" "$T/bb/bin/busybox"
	for a in sh echo cat sleep id ls mkdir true false env; do ln -s busybox "$T/bb/bin/$a"; done
	tar -C "$T/bb" -cf "$l/3/fs/opt/e2e/busybox.tar" .
	chmod 0644 "$l/3/fs/opt/e2e/busybox.tar"
	if [[ -n $EROOT ]]; then
		# docker-buildx, the CLI plugin that does BuildKit builds with docker-cli 26 and 28
		mkdir -p "$l/3/fs/usr/libexec/docker/cli-plugins"
		ln -s "/opt/$ENGINE/usr/libexec/docker/cli-plugins/docker-buildx" "$l/3/fs/usr/libexec/docker/cli-plugins/docker-buildx"
	fi
	# 4: the devpod user (the host's own uid 1000, if any, is not in this image)
	mkdir -p "$l/4/fs/etc"
	awk -F: '$3 != 1000 && $1 != "coder"' /etc/passwd >"$l/4/fs/etc/passwd"
	echo 'coder:x:1000:1000:devpod user:/home/coder:/bin/bash' >>"$l/4/fs/etc/passwd"
	awk -F: '$3 != 1000 && $1 != "coder"' /etc/group >"$l/4/fs/etc/group"
	echo 'coder:x:1000:' >>"$l/4/fs/etc/group"
	chmod 0644 "$l/4/fs/etc/passwd" "$l/4/fs/etc/group"
	# 5: the entrypoint binary (COPY --from=dind-init), when the scenario uses it
	if [[ -n $BIN ]]; then
		mkdir -p "$l/5/fs/usr/local/bin"
		install -m 0755 "$BIN" "$l/5/fs/usr/local/bin/dind-init"
	fi
}

POD_MARK=0
# Start the pod's filesystem: a new (empty) upper, as Kubernetes gives a new container.
pod_up() {
	local l=$NODE/snapshots
	rm -rf "$l/upper"
	mkdir -p "$l/upper/fs" "$l/upper/work"
	POD_MARK=${#MOUNTS[@]}
	mnt -t overlay overlay \
		-o "lowerdir=$l/5/fs:$l/4/fs:$l/3/fs:$l/2/fs:$l/1/fs:/,upperdir=$l/upper/fs,workdir=$l/upper/work" "$ROOT"
	mnt -t tmpfs -o mode=0755,size=64m devtmp "$ROOT/dev"
	mknod -m 0666 "$ROOT/dev/null" c 1 3
	mknod -m 0666 "$ROOT/dev/zero" c 1 5
	mknod -m 0666 "$ROOT/dev/full" c 1 7
	mknod -m 0666 "$ROOT/dev/random" c 1 8
	mknod -m 0666 "$ROOT/dev/urandom" c 1 9
	mknod -m 0666 "$ROOT/dev/tty" c 5 0
	mknod -m 0666 "$ROOT/dev/fuse" c 10 229
	ln -s /proc/self/fd "$ROOT/dev/fd"
	ln -s /proc/self/fd/0 "$ROOT/dev/stdin"
	ln -s /proc/self/fd/1 "$ROOT/dev/stdout"
	ln -s /proc/self/fd/2 "$ROOT/dev/stderr"
	mkdir -p "$ROOT/dev/pts" "$ROOT/dev/shm"
	mnt -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$ROOT/dev/pts"
	ln -s pts/ptmx "$ROOT/dev/ptmx"
	mnt -t tmpfs -o mode=1777,size=64m shm "$ROOT/dev/shm"
	mnt --rbind /sys "$ROOT/sys"
	mnt -t tmpfs -o mode=0755,size=256m run "$ROOT/run"
	mnt -t tmpfs -o mode=1777,size=512m tmp "$ROOT/tmp"
	mkdir -p "$ROOT/home/coder"
	mnt -o loop "$T/pvc.img" "$ROOT/home/coder"
	# day1: a fresh volume as a provisioner makes it, root:root 0755 (dind-init fixes it).
	[[ $SCENARIO == day1* ]] || chown 1000:1000 "$ROOT/home/coder"
	if [[ -n $EROOT ]]; then
		mnt --bind "$EROOT" "$ROOT/opt/$ENGINE"
		mount -o remount,bind,ro "$ROOT/opt/$ENGINE"
	fi
	[[ $(stat -f -c %T "$ROOT") == overlayfs ]] || fail "pod root is not overlayfs"
	[[ ! -e $ROOT/usr/local/bin/docker ]] || fail "whiteout of /usr/local/bin/docker did not hide it"
	[[ ! -e $ROOT/var/lib/docker && ! -e $ROOT/var/lib/containerd ]] || fail "the host's /var/lib/docker or /var/lib/containerd shows through the pod's image"
	[[ $(stat -f -c %T "$ROOT/home/coder") == ext2/ext3 ]] || fail "PVC is not ext4"
}

pod_down() {
	unmount_to "$POD_MARK"
}

POD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [[ -n $EROOT ]]; then
	POD_PATH=/opt/$ENGINE/usr/sbin:/opt/$ENGINE/usr/bin:$POD_PATH
fi

# Extra NAME=VALUE settings of the next pod's PID 1 (a scenario's own DIND_* settings).
POD_EXTRA_ENV=()

# The env of the pod's PID 1, as a pod spec would give it.
pod_env() { # pod_env [MODE]
	local mode=${1:-$MODE}
	printf '%s\n' "PATH=$POD_PATH" HOME=/root TERM=dumb HOSTNAME=devpod
	# explain: the seed's pod before the fix has no DIND_* settings; pod.sh passes DIND_USER
	# to each dind-init command itself.
	if [[ -n $BIN && $SCENARIO != explain ]]; then
		printf '%s\n' DIND_USER=coder "DIND_CONTAINERD=$mode" "DIND_STOP_TIMEOUT=$STOP_TIMEOUT" \
			DIND_REQUIRE_DOCKER=true DIND_LOG=info "DIND_READY_TIMEOUT=$READY_TIMEOUT"
	fi
	# A scenario's own settings come last: env -i keeps the last value of a name.
	((${#POD_EXTRA_ENV[@]} == 0)) || printf '%s\n' "${POD_EXTRA_ENV[@]}"
}

# pod_cmd MODE ENTRYPOINT...: the command line that starts the pod (new pid/mount/net ns, chroot).
pod_cmd() {
	local mode=$1
	shift
	local envs
	mapfile -t envs < <(pod_env "$mode")
	POD_CMD=(unshare --pid --fork --kill-child --mount-proc="$ROOT/proc" --net
		chroot "$ROOT" /usr/bin/env -i "${envs[@]}" "$@")
	[[ -z ${DEVPOD_CGROUP2_POD:-} ]] || cg2_pod_wrap
}

# ---- cgroup v2 pod placement (tests/vm only: DEVPOD_CGROUP2_POD=/sys/fs/cgroup/kubepods on a
# pure cgroup v2 hierarchy). As containerd/runc start a pod's container on a cgroup v2 node:
# PID 1 alone in a new cgroup DEVPOD_CGROUP2_POD/podN (controllers enabled in the parents by the
# caller, none in podN), in its own cgroup namespace rooted there, with a fresh cgroup2 mount at
# /sys/fs/cgroup. The harness's processes (unshare, this script) stay outside podN: a process
# there would make nesting impossible, which no real pod has. podN is left behind (the VM ends).
CG2_POD_N=1
CG2_POD_DIR=
# PID 1 of the pod (still the host's sh, before chroot) moves itself into podN, then enters a
# new cgroup namespace rooted there and, as runc does, mounts a fresh sysfs over the pod's /sys
# bind (the pod has its own network namespace) and that namespace's cgroup2 on its
# /sys/fs/cgroup; then execs the pod's chroot. $1 = podN, $2 = the pod's root.
CG2_ENTER='echo 0 >"$1/cgroup.procs" || exit 125
root=$2
shift 2
exec unshare --cgroup /bin/sh -c '"'"'mount -t sysfs sysfs "$0/sys" && mount -t cgroup2 cgroup2 "$0/sys/fs/cgroup" || exit 125; exec "$@"'"'"' "$root" "$@"'
cg2_pod_wrap() { # rewrite POD_CMD: the wrapper above between unshare's options and chroot
	local i
	# A new podN for each pod run: other runs in the same VM left theirs.
	until mkdir "$DEVPOD_CGROUP2_POD/pod$CG2_POD_N" 2>/dev/null; do
		CG2_POD_N=$((CG2_POD_N + 1))
		((CG2_POD_N < 1000)) || fail "cannot create a pod cgroup under $DEVPOD_CGROUP2_POD"
	done
	CG2_POD_DIR=$DEVPOD_CGROUP2_POD/pod$CG2_POD_N
	for i in "${!POD_CMD[@]}"; do
		[[ ${POD_CMD[i]} == chroot ]] && break
	done
	POD_CMD=("${POD_CMD[@]:0:i}" /bin/sh -c "$CG2_ENTER" cg2-enter "$CG2_POD_DIR" "$ROOT" "${POD_CMD[@]:i}")
}

# pod_run NAME MODE ENTRYPOINT...: run the pod to its end (at most POD_TIMEOUT s; then it is
# SIGKILLed). In the background and polled, so a signal to this script is handled at once.
pod_run() {
	local name=$1
	pod_start "$@"
	pod_wait "$POD_TIMEOUT"
	say "pod run '$name' ended: exit $RC after $DUR_MS ms"
}

# pod_start NAME MODE ENTRYPOINT...: start the pod in the background. Sets POD_PID (unshare).
pod_start() {
	local name=$1 mode=$2
	shift 2
	pod_cmd "$mode" "$@"
	POD_T0=$(now_ms)
	"${POD_CMD[@]}" >"$LOGS/$name.log" 2>&1 </dev/null &
	POD_PID=$!
	PODS+=("$POD_PID")
}

# The pid namespace's init (PID 1 in the pod), seen from here: unshare's only child.
pod_init_pid() {
	local kids deadline=$(($(now_ms) + 5000))
	while (($(now_ms) < deadline)); do
		kids=$(cat "/proc/$POD_PID/task/$POD_PID/children" 2>/dev/null || true)
		if [[ -n ${kids// /} ]]; then
			echo "${kids%% *}"
			return 0
		fi
		sleep 0.01
	done
	fail "no pid-namespace init under unshare $POD_PID"
}

# pod_daemon_pid INIT NAME: the host pid of the one process named NAME (comm) among the
# descendants of the pod's init INIT, walking /proc/PID/task/*/children (a daemon's children
# may be forked by any of its threads). Fails unless there is exactly one.
pod_daemon_pid() {
	local todo=("$1") found=() p kids
	while ((${#todo[@]})); do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		if [[ $p != "$1" && $(cat "/proc/$p/comm" 2>/dev/null) == "$2" ]]; then
			found+=("$p")
		fi
		kids=$(cat /proc/"$p"/task/*/children 2>/dev/null || true)
		# shellcheck disable=SC2206 # pids: split on whitespace on purpose
		todo+=($kids)
	done
	((${#found[@]} == 1)) || fail "expected one $2 under the pod's init (host pid $1), found ${#found[@]}: ${found[*]}"
	echo "${found[0]}"
}

# wait_gone PID LIMIT_S: until PID is dead (reaped, or a zombie its parent has yet to reap).
wait_gone() {
	local deadline=$(($(now_ms) + $2 * 1000))
	while [[ -e /proc/$1 && $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; do
		(($(now_ms) < deadline)) || fail "pid $1 still alive $2 s after SIGKILL"
		sleep 0.01
	done
}

# pod_wait TIMEOUT_S: wait for the background pod to end; past the timeout SIGKILL unshare, and
# --kill-child takes the whole pid namespace with it. Sets RC and DUR_MS (since pod_start).
pod_wait() {
	local deadline=$(($(now_ms) + $1 * 1000))
	while kill -0 "$POD_PID" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$POD_PID/stat" 2>/dev/null) != Z ]]; do
		if (($(now_ms) >= deadline)); then
			echo "devpod: pod still running after $1 s: SIGKILL" >&2
			kill -KILL "$POD_PID"
			break
		fi
		sleep 0.01
	done
	RC=0
	wait "$POD_PID" || RC=$?
	DUR_MS=$(($(now_ms) - POD_T0))
}

# wait_line NAME REGEX TIMEOUT_S: wait until the pod's log has a matching line (pod still up).
wait_line() {
	local log=$LOGS/$1.log deadline=$(($(now_ms) + $3 * 1000))
	until grep -qE "$2" "$log" 2>/dev/null; do
		if ! kill -0 "$POD_PID" 2>/dev/null || [[ $(awk '{print $3}' "/proc/$POD_PID/stat" 2>/dev/null) == Z ]]; then
			RC=0
			wait "$POD_PID" || RC=$?
			fail "pod '$1' ended (exit $RC) before printing /$2/"
		fi
		(($(now_ms) < deadline)) || fail "pod '$1' printed no /$2/ within $3 s"
		sleep 0.02
	done
}

# expect_containerd NAME MODE: separate → containerd is dind-init's child; managed → dockerd's.
expect_containerd() {
	case $2 in
	separate) expect_log "$1" '^CONTAINERD_PARENT=dind-init$' "containerd started by dind-init (DIND_CONTAINERD=separate)" ;;
	managed) expect_log "$1" '^CONTAINERD_PARENT=dockerd$' "containerd started by dockerd (DIND_CONTAINERD=managed)" ;;
	esac
}

expect_rc() { # expect_rc NAME WANT
	[[ $RC == "$2" ]] || fail "pod run '$1' exited $RC, expected $2"
}
expect_log() { # expect_log NAME REGEX WHAT
	grep -qE "$2" "$LOGS/$1.log" || fail "pod run '$1': no $3 (/$2/) in its output"
}
show_evidence() { # show_evidence NAME: the key lines of a pod's output
	grep -E '^evidence:' "$LOGS/$1.log" | sed "s/^/  [$1] /" || true
}

# Host-side view: Docker's data is on the PVC, and none of it landed on the overlay's upper.
expect_data_on_pvc() {
	local pvc=$ROOT/home/coder found
	if [[ $STORE == graphdriver ]]; then
		found=$(find "$pvc" -maxdepth 4 -type d -name overlay2 -exec test -d '{}/l' \; -print 2>/dev/null | head -1)
	else
		found=$(find "$pvc" -maxdepth 6 -type d -path '*/io.containerd.snapshotter.v1.overlayfs/snapshots' \
			-exec sh -c 'ls -A "$1" | grep -q .' _ '{}' \; -print 2>/dev/null | head -1)
	fi
	[[ -n $found ]] || fail "no image layers (overlay2/ or overlayfs snapshots/) on the PVC"
	echo "evidence: image layers on the PVC (ext4): ${found#"$ROOT"} ($(find "$found" -mindepth 1 -maxdepth 1 | wc -l) entries)"
	if [[ -d $UPPER/var/lib/docker ]] &&
		[[ -n $(find "$UPPER/var/lib/docker" -mindepth 1 -maxdepth 2 \( -name overlay2 -o -name containerd -o -name image \) 2>/dev/null) ]]; then
		fail "Docker data landed on the overlay root ($UPPER/var/lib/docker)"
	fi
}

# --- issue 14: the separate containerd reads dind-init's config without migrating it (containerd
# 2.x warns "Configuration migrated from version 2" for a version 2 file). dind-init forwards
# containerd's lines prefixed "containerd: ", so its boot line proves the log was seen.
expect_containerd_config_as_written() { # expect_containerd_config_as_written NAME
	expect_log "$1" '^containerd: .*successfully booted' "containerd boot line (dind-init forwards containerd's log)"
	if grep -E '^containerd: .*Configuration migrated' "$LOGS/$1.log" | sed 's/^/  /' >&2; then
		fail "pod run '$1': containerd migrated the config dind-init wrote (above)"
	fi
	echo "evidence: containerd $(grep -oE '^containerd: .*msg="starting containerd".* version=[^ ]+' "$LOGS/$1.log" | grep -oE '[^=]+$' | tr -d '"' | head -1) booted with dind-init's config as written (no migration)"
}
# --- end issue 14

check_prereqs() {
	local p
	for p in unshare chroot mkfs.ext4 losetup mount flock busybox findmnt; do
		command -v "$p" >/dev/null || fail "needs $p (scripts/deps installs it)"
	done
	[[ -x /usr/sbin/dockerd && -x /usr/bin/docker ]] || fail "needs Debian's docker.io (scripts/deps installs it)"
	if [[ -n $EROOT ]]; then
		[[ -x $EROOT/usr/sbin/dockerd && -x $EROOT/usr/bin/containerd && -x $EROOT/usr/libexec/docker/cli-plugins/docker-buildx ]] ||
			fail "needs the $ENGINE engine in $EROOT (run scripts/deps)"
	fi
}

# ---------------------------------------------------------------- scenarios

DI=/usr/local/bin/dind-init
STEP=/opt/e2e/pod.sh

scenario_without() {
	pod_up
	if [[ $STORE == graphdriver ]]; then
		say "(a) $ENGINE: dockerd with storage-driver overlay2 is the entrypoint, /var/lib/docker on the overlay root"
		pod_run without managed "${EROOT:+/opt/$ENGINE}/usr/sbin/dockerd"
		((RC != 0)) || fail "dockerd exited 0; expected it to die on overlay2"
		expect_log without 'driver not supported|not supported as upperdir|overlay2.* not supported' "overlay2 error"
		grep -E 'failed to mount overlay|failed to start daemon' "$LOGS/without.log" | head -3 |
			sed 's/^/evidence: dockerd: /'
	else
		say "(a) $ENGINE: dockerd with the containerd image store, /var/lib/docker on the overlay root"
		pod_run without managed /bin/bash "$STEP" without-containerd-store
		expect_rc without 0
		expect_log without '^STEP_OK' "completed step"
		expect_log without '^evidence: dockerd ready' "ready dockerd"
		expect_log without '^RUN_RC=[1-9]' "failing docker run"
		expect_log without '^BUILD_RC=[1-9]' "failing docker build"
		expect_log without '^BUILDKIT_RC=[1-9]' "failing BuildKit build"
		expect_log without 'buildkit: .*invalid argument' "'invalid argument' from the BuildKit build"
		expect_log without 'docker run: .*failed to mount.*invalid argument' "'failed to mount … invalid argument' from docker run"
		expect_log without 'docker build: .*failed to mount.*invalid argument' "'failed to mount … invalid argument' from docker build"
		show_evidence without
	fi
	[[ -d $UPPER/var/lib/docker ]] || fail "dockerd wrote nothing to /var/lib/docker on the overlay root"
	echo "evidence: /var/lib/docker was created on the pod's overlay root (the node disk's upper dir)"
	say "PASS (a) without dind-init fails like the seed"
}

scenario_manual_fix() {
	pod_up
	say "seed's manual fix without dind-init: dockerd --data-root /home/coder/.docker-data"
	pod_run manual managed /bin/bash "$STEP" manual-fix
	show_evidence manual
	expect_rc manual 0
	expect_log manual '^STEP_OK' "completed user checks"
	expect_data_on_pvc
	say "PASS manual fix: Docker works once its data is on the PVC"
}

scenario_basic() {
	pod_up
	say "(b) dind-init as PID 1 (DIND_CONTAINERD=$MODE), user command as coder"
	pod_run basic "$MODE" "$DI" -- /bin/bash "$STEP" dind-user-checks
	# What dind-init decided and did (file contents it writes are left out).
	grep -E '^dind-init\[(info|warn|error)\]' "$LOGS/basic.log" | grep -v "printf '%s'" | head -12 |
		sed 's/^/  [basic] evidence: /' || true
	show_evidence basic
	expect_rc basic 0
	expect_log basic '^STEP_OK' "completed user checks"
	expect_containerd basic "$MODE"
	# The readiness probe (`exec: [dind-init, status]`) runs as the container's user: coder.
	expect_log basic '^STATUS_RC=0$' "exit 0 from \`dind-init status\` run as coder (uid 1000) $(grep -E '^STATUS_(RC|LINE)=' "$LOGS/basic.log" | tr '\n' ' ')"
	expect_log basic '^STATUS_LINE=ready:' "'ready:' line from \`dind-init status\` run as coder"
	expect_data_on_pvc
	[[ $MODE != separate ]] || expect_containerd_config_as_written basic
	say "PASS (b) in $DUR_MS ms: overlay driver on ext4, build and run as uid 1000, dind-init status ready for uid 1000"
}

persist_runs() { # persist_runs MODE1 MODE2
	pod_up
	say "(c) run 1 (DIND_CONTAINERD=$1): make images and a volume"
	pod_run persist1 "$1" "$DI" -- /bin/bash "$STEP" persist-write
	show_evidence persist1
	expect_rc persist1 0
	expect_log persist1 '^STEP_OK' "completed run 1"
	expect_containerd persist1 "$1"
	pod_down
	say "(c) pod recreated: new overlay upper, new /run; same PVC"
	pod_up
	say "(c) run 2 (DIND_CONTAINERD=$2): everything still there"
	pod_run persist2 "$2" "$DI" -- /bin/bash "$STEP" persist-read
	show_evidence persist2
	expect_rc persist2 0
	expect_log persist2 '^STEP_OK' "completed run 2"
	expect_containerd persist2 "$2"
	expect_data_on_pvc
}

scenario_persist() {
	persist_runs "$MODE" "$MODE"
	say "PASS (c) a second start on the same PVC keeps images and volumes"
}

scenario_mode_switch() {
	persist_runs managed separate
	say "PASS mode switch: managed then separate containerd on one PVC keeps images and volumes"
}

scenario_sigterm() {
	pod_up
	say "(d) dind-init as PID 1, a container running, then SIGTERM from outside (DIND_STOP_TIMEOUT=$STOP_TIMEOUT)"
	pod_start sigterm "$MODE" "$DI" -- /bin/bash "$STEP" sigterm-wait
	sigterm_stop sigterm "$(pod_init_pid)"
	say "PASS (d) SIGTERM: command got TERM, dockerd shut down cleanly, exit 42 in $DUR_MS ms"
}

# sigterm_stop NAME INIT: once the pod's session (pod.sh sigterm-wait) prints READY with a
# container running, SIGTERM to the pod's PID 1 (host pid INIT): the session gets TERM and exits
# 42, dockerd shuts down cleanly, all within DIND_STOP_TIMEOUT. Sets RC and DUR_MS (from the TERM).
sigterm_stop() {
	local t
	wait_line "$1" '^READY$' "$POD_TIMEOUT"
	say "pod ready after $(($(now_ms) - POD_T0)) ms; SIGTERM to the pod's PID 1 (host pid $2)"
	t=$(now_ms)
	kill -TERM "$2"
	POD_T0=$t
	pod_wait $((STOP_TIMEOUT + 10))
	show_evidence "$1"
	expect_rc "$1" 42
	expect_log "$1" '^got TERM' "TERM reaching the user command"
	expect_log "$1" 'Daemon shutdown complete|stopping event stream' "clean dockerd shutdown"
	((DUR_MS <= STOP_TIMEOUT * 1000)) || fail "shutdown took $DUR_MS ms, above DIND_STOP_TIMEOUT=$STOP_TIMEOUT s"
	grep -E 'Daemon shutdown complete|stopping event stream' "$LOGS/$1.log" | head -2 | sed 's/^/evidence: pod log: /'
	echo "evidence: SIGTERM to exit: $DUR_MS ms, exit code $RC"
}

scenario_stale() {
	pod_up
	say "(e) run 1: dind-init as PID 1, then SIGKILL of the whole pod"
	pod_start stale1 "$MODE" "$DI" -- /bin/bash "$STEP" stale-prepare
	local init pidfiles f
	init=$(pod_init_pid)
	wait_line stale1 '^READY' "$POD_TIMEOUT"
	kill -KILL "$init"
	pod_wait 10
	((RC != 0)) || fail "pod exited 0 after SIGKILL"
	mapfile -t pidfiles < <(find "$ROOT/run" "$ROOT/home/coder" -xdev -type f -name '*.pid' 2>/dev/null)
	((${#pidfiles[@]} > 0)) || fail "SIGKILL left no pidfile under /run or the PVC: nothing stale to test"
	printf '%s\n' "${pidfiles[@]}" | grep -q 'docker\.pid$' || fail "no stale docker.pid after SIGKILL: ${pidfiles[*]}"
	# Worst case of PID reuse: each stale pidfile names a live process that is not a daemon
	# (PID 1 of the next pod is dind-init itself).
	for f in "${pidfiles[@]}"; do
		echo "evidence: stale pidfile ${f#"$ROOT"} (pid $(cat "$f")), now pointing at PID 1"
		echo 1 >"$f"
	done
	say "(e) run 2 in the same container (same upper, same /run): the stale pidfiles must not block it"
	pod_run stale2 "$MODE" "$DI" -- /bin/bash "$STEP" stale-check
	show_evidence stale2
	expect_rc stale2 0
	expect_log stale2 '^STEP_OK' "working docker after the restart"
	say "PASS (e) stale pidfiles from a SIGKILLed run do not block the next start"
}

# The daemons die while the session runs; dind-init restarts each, the session never notices
# more than a short gap. The kills come from here (root, outside the pod): the session runs as
# uid 1000 and cannot signal root's daemons. Round r: wait for the session's "READY r", SIGKILL
# the daemon, wait until it is dead (so whatever answers next is the restarted one), then hand
# the session the kill time in the marker /tmp/e2e-killed-r; it measures until Docker answers
# and a container runs.
scenario_restart() {
	local daemons=(dockerd)
	[[ $MODE == separate ]] && daemons+=(containerd)
	pod_up
	say "restart: dind-init as PID 1 (DIND_CONTAINERD=$MODE), session as coder; SIGKILL from outside: ${daemons[*]}"
	pod_start restart "$MODE" "$DI" -- /bin/bash "$STEP" restart-session "${daemons[@]}"
	restart_rounds restart "$(pod_init_pid)" 30 "${daemons[@]}"
	pod_wait "$POD_TIMEOUT"
	show_evidence restart
	expect_rc restart 0
	expect_containerd restart "$MODE"
	expect_log restart '^STEP_OK' "end of the session after the restarts (it was never killed)"
	say "PASS restart: ${daemons[*]} SIGKILLed and restarted by dind-init; the session lived on and ran containers after each; pod exit 0 in $DUR_MS ms"
}

# restart_rounds NAME INIT WAIT_S DAEMON...: the rounds above against the pod NAME (its init is
# host pid INIT; its session is pod.sh's restart_session for the same DAEMONs), each round's
# container run awaited at most WAIT_S s; then the daemons after the restarts; then the marker
# that lets the session go on.
restart_rounds() {
	local name=$1 init=$2 wait_s=$3 r=0 d pid nspid kill_ms n line answer run tries
	shift 3
	for d in "$@"; do
		r=$((r + 1))
		wait_line "$name" "^READY $r $d\$" "$POD_TIMEOUT"
		pid=$(pod_daemon_pid "$init" "$d")
		nspid=$(awk '/^NSpid:/ {print $NF}' "/proc/$pid/status")
		kill_ms=$(now_ms)
		kill -KILL "$pid"
		wait_gone "$pid" 5
		echo "$kill_ms" >"$ROOT/tmp/e2e-killed-$r.tmp"
		mv "$ROOT/tmp/e2e-killed-$r.tmp" "$ROOT/tmp/e2e-killed-$r"
		say "round $r: SIGKILLed $d (host pid $pid, pod pid $nspid), dead after $(($(now_ms) - kill_ms)) ms"
		wait_line "$name" "^RESTART_RUN $r $d " "$wait_s"
		# dind-init saw the death and restarted that daemon, once.
		n=$(grep -cE "^dind-init\[warn\] $d exited unexpectedly with .*; restarting in [0-9]+s" "$LOGS/$name.log" || true)
		((n == 1)) || fail "round $r: $n lines 'dind-init[warn] $d exited unexpectedly … restarting in Ns', expected 1"
		line=$(grep -E "^dind-init\[info\] $d restarted \(pid [0-9]+\)" "$LOGS/$name.log") ||
			fail "round $r: no 'dind-init[info] $d restarted (pid N)' line"
		[[ $(grep -c . <<<"$line") == 1 ]] || fail "round $r: $d restarted more than once: $line"
		[[ $line != *"(pid $nspid)"* ]] || fail "round $r: '$line' names the killed pid $nspid"
		grep -E "^dind-init\[warn\] $d exited unexpectedly" "$LOGS/$name.log" | sed "s/^/evidence: round $r pod log: /"
		echo "evidence: round $r pod log: $line"
		answer=$(grep -oP "^RESTART_ANSWER $r $d ms=\K[0-9]+" "$LOGS/$name.log") || fail "round $r: no RESTART_ANSWER line"
		line=$(grep -E "^RESTART_RUN $r $d " "$LOGS/$name.log")
		run=$(grep -oP 'ms=\K[0-9]+' <<<"$line")
		tries=$(grep -oP 'tries=\K[0-9]+' <<<"$line")
		# After dockerd's restart its API answers only once it is up with containerd: the first
		# container must run. After containerd's, dockerd reconnects on its own; retries allowed.
		[[ $d != dockerd || $tries == 1 ]] || fail "round $r: docker run needed $tries tries after the restarted dockerd answered"
		echo "evidence: round $r: SIGKILL $d -> Docker answered in $answer ms, container ran in $run ms ($tries tries)"
		echo "TIMING restart $ENGINE $MODE $d kill->answer ${answer} ms kill->run ${run} ms"
	done
	# Killing containerd must not have taken dockerd down with it.
	n=$(grep -cE '^dind-init\[warn\] dockerd exited unexpectedly' "$LOGS/$name.log" || true)
	((n == 1)) || fail "dockerd died $n times; only the one SIGKILL expected"
	wait_line "$name" '^ROUNDS_DONE$' 30
	# Exactly one containerd now, run by whom the mode says: no orphan of the killed dockerd's
	# managed containerd beside a new one, no second containerd beside the restarted one.
	pid=$(pod_daemon_pid "$init" containerd)
	d=$(cat "/proc/$(awk '{print $4}' "/proc/$pid/stat")/comm")
	echo "evidence: after the restarts: one containerd in the pod (host pid $pid), a child of $d"
	case $MODE in
	separate) [[ $d == dind-init ]] || fail "after the restarts containerd is a child of $d, expected dind-init (separate)" ;;
	managed) [[ $d == dockerd ]] || fail "after the restarts containerd is a child of $d, expected dockerd (managed)" ;;
	esac
	touch "$ROOT/tmp/e2e-checked"
}

# Data made with the slow driver is kept when the driver setting is later left to auto: a switch
# would hide every image. bookworm pins the graphdriver vfs; trixie, with the containerd image
# store, its equivalent, the native snapshotter.
scenario_keepvfs() {
	local slow best data
	if [[ $STORE == graphdriver ]]; then
		slow=vfs best=overlay2 data=vfs/dir
	else
		slow=native best=overlayfs data=containerd/daemon/io.containerd.snapshotter.v1.native/snapshots
	fi
	pod_up
	say "keepvfs run 1: DIND_STORAGE_DRIVER=$slow (DIND_CONTAINERD=$MODE): image and volume"
	POD_EXTRA_ENV=("DIND_STORAGE_DRIVER=$slow")
	pod_run keepvfs1 "$MODE" "$DI" -- /bin/bash "$STEP" keepvfs-write "$slow"
	POD_EXTRA_ENV=()
	show_evidence keepvfs1
	expect_rc keepvfs1 0
	expect_log keepvfs1 '^STEP_OK' "completed run 1"
	[[ -n $(find "$ROOT/home/coder/.docker-data/$data" -mindepth 1 -maxdepth 1 2>/dev/null) ]] ||
		fail "run 1 left no $slow layers in /home/coder/.docker-data/$data on the PVC"
	echo "evidence: run 1 left $(find "$ROOT/home/coder/.docker-data/$data" -mindepth 1 -maxdepth 1 | wc -l) $slow layers in /home/coder/.docker-data/$data"
	pod_down
	say "keepvfs: pod recreated, same PVC; run 2 with DIND_STORAGE_DRIVER unset (auto would pick $best)"
	pod_up
	pod_run keepvfs2 "$MODE" "$DI" -- /bin/bash "$STEP" keepvfs-read "$slow"
	show_evidence keepvfs2
	expect_rc keepvfs2 0
	expect_log keepvfs2 '^STEP_OK' "completed run 2"
	expect_log keepvfs2 "^DRIVER=$slow\$" "storage driver $slow in docker info"
	# src/plan.rs's warning for data of another driver than the best one.
	expect_log keepvfs2 "^dind-init\[warn\] /home/coder/\.docker-data holds [0-9]+ layers made with $slow; keeping $slow because switching to $best would hide every image" \
		"warning that dind-init keeps $slow, the driver the data was made with"
	grep -E "^dind-init\[warn\] .* layers made with $slow" "$LOGS/keepvfs2.log" | sed 's/^/evidence: run 2 pod log: /'
	say "PASS keepvfs: data made with $slow keeps $slow when the driver is left to auto; image and volume still there"
}

# ---- cgroup v2 scenarios (tests/vm only, with DEVPOD_CGROUP2_POD; see cg2_pod_wrap).

# Control: dockerd started by hand in a cgroup v2 pod cannot give a container limits: the pod's
# root cgroup holds processes, so runc cannot enable domain controllers below it.
scenario_cg2_control() {
	[[ -n ${DEVPOD_CGROUP2_POD:-} ]] || fail "cg2-control needs DEVPOD_CGROUP2_POD (run by tests/vm)"
	pod_up
	say "cg2-control: dockerd started by hand in a cgroup v2 pod, docker run with limits"
	pod_run cg2control - /bin/bash "$STEP" cg2-control
	show_evidence cg2control
	expect_rc cg2control 0
	expect_log cg2control '^STEP_OK' "completed control step"
	expect_log cg2control '^LIMITS_RC=[1-9]' "failing docker run --memory (no nesting without dind-init)"
	# runc's words for /docker, a child of the pod's populated root cgroup: "threaded mode" once
	# something made it threaded, "an invalid state" (domain invalid) on a first start.
	expect_log cg2control 'cannot enter cgroupv2 "/sys/fs/cgroup/docker" with domain controllers -- it is in (threaded mode|an invalid state)' \
		"runc's 'cannot enter cgroupv2 \"/sys/fs/cgroup/docker\" with domain controllers'"
	say "PASS cg2-control: without dind-init, docker run --memory fails in a cgroup v2 pod like on a real node"
}

# dind-init as PID 1 in the same pod: it nests (PID 1 into a leaf, controllers enabled), so the
# container gets its limits; the basic user checks run too.
scenario_cg2_nest() {
	[[ -n ${DEVPOD_CGROUP2_POD:-} ]] || fail "cg2-nest needs DEVPOD_CGROUP2_POD (run by tests/vm)"
	pod_up
	say "cg2-nest: dind-init as PID 1 (DIND_CONTAINERD=$MODE) in a cgroup v2 pod; basic checks and docker run with limits as coder"
	pod_run cg2nest "$MODE" "$DI" -- /bin/bash "$STEP" cg2-nest
	grep -E '^dind-init\[(info|warn|error)\].*cgroup' "$LOGS/cg2nest.log" | sed 's/^/  [cg2nest] evidence: /' || true
	grep -E '^(DOCTOR|PLAN): ' "$LOGS/cg2nest.log" | sed 's/^/  [cg2nest] evidence: /' || true
	show_evidence cg2nest
	expect_rc cg2nest 0
	expect_log cg2nest '^STEP_OK' "completed user checks"
	expect_containerd cg2nest "$MODE"
	expect_log cg2nest '^STATUS_RC=0$' "exit 0 from \`dind-init status\` as coder"
	expect_log cg2nest '^LIMITS_RC=0$' "working docker run --memory 64m --pids-limit 50 --cpus 0.5"
	expect_log cg2nest '^LIMITS_OUT=67108864$' "memory.max 67108864 in the container"
	expect_log cg2nest '^LIMITS_OUT=50$' "pids.max 50 in the container"
	expect_log cg2nest '^LIMITS_OUT=50000 100000$' "cpu.max '50000 100000' in the container"
	expect_log cg2nest '^POD_ROOT_PROCS=0$' "empty root cgroup of the pod"
	expect_log cg2nest '^PID1_CGROUP=0::/init$' "PID 1 in the leaf /init"
	expect_log cg2nest '^POD_SUBTREE=.*\bmemory\b.*\bpids\b' "memory and pids enabled for the pod's children"
	expect_data_on_pvc
	cg2_subcheck basic "$POD_T0"
	say "PASS cg2-nest: dind-init nested the cgroup v2 pod; the container got memory, pids and cpu limits"
}

# --- cg2-life (issue 14): restart, sigterm and persist in one pod lifecycle on one PVC, so the
# VM stage covers them in two pod starts instead of four. Each check, once it holds, prints
# "VMSUB <check> PASS <ms>" (tests/vm.rs reports and records it); "VMSUBS" names them first.
cg2_subcheck() { # cg2_subcheck CHECK SINCE_MS
	echo "VMSUB $1 PASS $(($(now_ms) - $2))"
}

scenario_cg2_life() {
	[[ -n ${DEVPOD_CGROUP2_POD:-} ]] || fail "cg2-life needs DEVPOD_CGROUP2_POD (run by tests/vm)"
	local daemons=(dockerd) t
	[[ $MODE == separate ]] && daemons+=(containerd)
	echo "VMSUBS restart sigterm persist"
	pod_up
	say "cg2-life run 1: persist's data, then SIGKILL of ${daemons[*]} (restart), then SIGTERM with a container running (sigterm)"
	# Each round's limit from the kill to a container run: READY_TIMEOUT (dockerd's own start).
	pod_start life1 "$MODE" "$DI" -- /bin/bash "$STEP" life-run1 "$READY_TIMEOUT" "${daemons[@]}"
	t=$POD_T0
	restart_rounds life1 "$(pod_init_pid)" $((READY_TIMEOUT + 10)) "${daemons[@]}"
	expect_log life1 '^evidence: run 1: made images' "persist's data written before the kills"
	cg2_subcheck restart "$t"
	t=$(now_ms)
	sigterm_stop life1 "$(pod_init_pid)"
	expect_containerd life1 "$MODE"
	cg2_subcheck sigterm "$t"
	pod_down
	say "cg2-life run 2: pod recreated (new overlay upper, new /run), same PVC: persist's data still there"
	t=$(now_ms)
	pod_up
	pod_run life2 "$MODE" "$DI" -- /bin/bash "$STEP" persist-read
	show_evidence life2
	expect_rc life2 0
	expect_log life2 '^STEP_OK' "completed run 2"
	expect_containerd life2 "$MODE"
	expect_data_on_pvc
	cg2_subcheck persist "$t"
	say "PASS cg2-life: ${daemons[*]} restarted under a live session, SIGTERM exit 42 with a clean shutdown, data kept across the pod's recreation"
}
# --- end cg2-life

# ---- volfull (issue 10): a PVC full to the last block, holding overlay data.

# volfull_fill DIR: fill the filesystem at DIR as root until root itself gets ENOSPC: no block
# left, the ext4 reserve for root included (dind-init runs as root). fallocate allocates without
# writing: big files first, then smaller ones down to one block; files DIR/.e2e-filler-N.
volfull_fill() {
	local dir=$1 n=0 size
	for size in 256M 64M 16M 4M 1M 256K 64K 16K 4K; do
		while fallocate -l "$size" "$dir/.e2e-filler-$n" 2>/dev/null; do n=$((n + 1)); done
		n=$((n + 1))
	done
	# Whatever fallocate could not take (delayed allocation): write until ENOSPC.
	dd if=/dev/zero of="$dir/.e2e-filler-$n" bs=4096 2>/dev/null && fail "dd filled $dir without ENOSPC"
	sync -f "$dir"
	local err
	err=$(fallocate -l 4096 "$dir/.e2e-filler-probe" 2>&1) && fail "$dir is not full: root could still allocate a block"
	[[ $err == *"No space left on device"* ]] || fail "fallocate on $dir failed, but not with ENOSPC: $err"
	err=$(mkdir "$dir/.e2e-filler-dir" 2>&1) && fail "$dir is not full: root could still make a directory"
	[[ $err == *"No space left on device"* ]] || fail "mkdir on $dir failed, but not with ENOSPC: $err"
	echo "evidence: PVC filled as root to the last block: fallocate and mkdir by root fail with ENOSPC; df: $(df -B1 --output=size,used,avail,pcent "$dir" | tail -1 | tr -s ' ')"
}

# What a fallback driver would have left on the data root: graphdriver dirs of fuse-overlayfs
# and vfs, snapshots of containerd's native snapshotter.
volfull_fallback_data() {
	local data=$ROOT/home/coder/.docker-data
	find "$data" -maxdepth 1 \( -name fuse-overlayfs -o -name vfs \) -printf '%P\n' 2>/dev/null
	find "$data" -mindepth 4 -maxdepth 4 -path '*/io.containerd.snapshotter.v1.native/snapshots/*' -printf '%P\n' 2>/dev/null
	find "$data" -mindepth 4 -maxdepth 4 -path '*/io.containerd.snapshotter.v1.fuse-overlayfs/snapshots/*' -printf '%P\n' 2>/dev/null
	true
}

# volfull_plan_driver NAME: the storage driver the last plan in pod run NAME's log gives dockerd
# (its dockerd step says "storage driver X"), or "none".
volfull_plan_driver() {
	grep -E '^dind-init\[info\] plan: [0-9]+\. dockerd .*storage driver [a-z0-9-]+' "$LOGS/$1.log" | tail -1 |
		grep -oE 'storage driver [a-z0-9-]+' | sed 's/^storage driver //' | grep . || echo none
}

# What went wrong in the volfull runs, "run N: what": the scenario checks every run before it
# fails, so one report says what dind-init got right and what it got wrong.
VOLFULL_BAD=()

# volfull_full_run NAME WHAT NAMED: a pod start on the (nearly) full PVC, checked. NAMED=always:
# the full volume must be named; NAMED=if-smoke: only when the smoke test hit ENOSPC (with a few
# blocks free dockerd starts, and whether its smoke test still fits depends on the engine).
volfull_full_run() {
	local name=$1 what=$2 named=$3 line dind_lines bad=()
	pod_up
	say "volfull $name: $what (DIND_REQUIRE_DOCKER=false: the command starts whatever happens)"
	pod_run "$name" "$MODE" /usr/bin/env DIND_REQUIRE_DOCKER=false "$DI" -- /bin/bash "$STEP" volfull-full
	grep -E '^dind-init(\[(info|warn|error)\]|: )' "$LOGS/$name.log" | grep -v "printf '%s'" | sed "s/^/  [$name] evidence: /" || true
	show_evidence "$name"
	dind_lines=$(grep -E '^dind-init' "$LOGS/$name.log" || true)
	[[ $RC == 0 ]] || bad+=("the pod exited $RC, expected 0 (the command starts with DIND_REQUIRE_DOCKER=false)")
	grep -q '^STEP_OK' "$LOGS/$name.log" || bad+=("the user command did not complete")
	grep -qx "DRIVER=$VOLFULL_WANT" "$LOGS/$name.log" ||
		bad+=("docker info does not show $VOLFULL_WANT: $(grep -E '^DRIVER=' "$LOGS/$name.log" || echo 'no DRIVER line')")
	grep -qE '^IMAGES=.*\be2e/busybox\b' "$LOGS/$name.log" && grep -qE '^IMAGES=.*\be2e/built\b' "$LOGS/$name.log" ||
		bad+=("Docker does not list e2e/busybox and e2e/built: $(grep -E '^IMAGES=' "$LOGS/$name.log" || echo 'no IMAGES line')")
	line=$(volfull_plan_driver "$name")
	[[ $line == "$VOLFULL_WANT" ]] || bad+=("dind-init's (last) plan gives dockerd storage driver '$line', expected $VOLFULL_WANT")
	line=$(grep -E "overlay mounts fail \(mkdir [^)]*ENOSPC|overridden with|trying [a-z-]+ instead|cannot work here|Put DATA_ROOT on a PersistentVolume" <<<"$dind_lines" | head -1 || true)
	[[ -z $line ]] || bad+=("dind-init reads the full volume as 'overlay does not work': $line")
	if grep -qE 'smoke test .*no space left on device' <<<"$dind_lines"; then
		echo "evidence: $name: the smoke test hit ENOSPC"
		named=always
	elif [[ $named == if-smoke ]]; then
		echo "evidence: $name: the smoke test did not hit ENOSPC (nothing to name)"
	fi
	line=$(grep -iE '^(dind-init|STATUS_LINE=).*(volume full|volume [^;]* is full)' "$LOGS/$name.log" | head -1 || true)
	if [[ -n $line ]]; then
		echo "evidence: $name names the full volume: $line"
	elif [[ $named == always ]]; then
		bad+=("neither dind-init's log/banner nor \`dind-init status\` names the full volume")
	fi
	if [[ $named == always ]] && ! grep -qiE '^(dind-init|STATUS_LINE=).*free space' "$LOGS/$name.log"; then
		bad+=("neither dind-init's log/banner nor \`dind-init status\` names the remedy (free space)")
	fi
	line=$(volfull_fallback_data)
	[[ -z $line ]] || bad+=("data of a fallback driver on the data root: $line")
	if ((${#bad[@]})); then
		printf "volfull $name ($what): %s\n" "${bad[@]}" >&2
		VOLFULL_BAD+=("${bad[@]/#/$name: }")
	else
		echo "evidence: $name: docker info shows $VOLFULL_WANT, images listed, the plan keeps $VOLFULL_WANT, no fallback driver data"
	fi
	pod_down
}

# Run 1 leaves overlay images on the PVC; the PVC is then filled to the last block. Run 2 must
# keep the overlay driver (a trial mount that could not run is no verdict), Docker must answer
# and list the images, and dind-init must name the full volume. Run 2b, with 64 KiB freed so
# dockerd can start and its smoke test hits ENOSPC, must not switch drivers either (issue 10
# item 1). Run 3, with the space freed, must be healthy.
VOLFULL_WANT=
scenario_volfull() {
	local line pvc=$ROOT/home/coder
	if [[ $STORE == graphdriver ]]; then VOLFULL_WANT=overlay2; else VOLFULL_WANT=overlayfs; fi
	pod_up
	say "volfull run 1 (DIND_CONTAINERD=$MODE): images, a built image and a volume with $VOLFULL_WANT on the PVC"
	pod_run volfull1 "$MODE" "$DI" -- /bin/bash "$STEP" persist-write
	show_evidence volfull1
	expect_rc volfull1 0
	expect_log volfull1 '^STEP_OK' "completed run 1"
	expect_data_on_pvc
	fallocate -l 64K "$pvc/.e2e-reserve"
	volfull_fill "$pvc"
	pod_down
	volfull_full_run volfull2 "PVC full to the last block" always
	pod_up
	rm "$pvc/.e2e-reserve"
	sync -f "$pvc"
	pod_down
	volfull_full_run volfull2b "PVC full but for 64 KiB" if-smoke
	pod_up
	rm -f "$pvc"/.e2e-filler-*
	sync -f "$pvc"
	say "volfull run 3: filler removed ($(df -h --output=avail "$pvc" | tail -1 | tr -d ' ') free), the next start must be healthy"
	pod_run volfull3 "$MODE" "$DI" -- /bin/bash "$STEP" volfull-freed
	show_evidence volfull3
	[[ $RC == 0 ]] || VOLFULL_BAD+=("volfull3: the pod exited $RC, expected 0")
	grep -q '^STEP_OK' "$LOGS/volfull3.log" || VOLFULL_BAD+=("volfull3: the user command did not complete (images kept, a container runs)")
	grep -qx "DRIVER=$VOLFULL_WANT" "$LOGS/volfull3.log" || VOLFULL_BAD+=("volfull3: docker info does not show $VOLFULL_WANT: $(grep -E '^DRIVER=' "$LOGS/volfull3.log" || echo 'no DRIVER line')")
	grep -qx 'STATUS_RC=0' "$LOGS/volfull3.log" && grep -q '^STATUS_LINE=ready:' "$LOGS/volfull3.log" ||
		VOLFULL_BAD+=("volfull3: \`dind-init status\` does not say ready: $(grep -E '^STATUS_(RC|LINE)=' "$LOGS/volfull3.log" | tr '\n' ' ')")
	line=$(volfull_plan_driver volfull3)
	[[ $line == "$VOLFULL_WANT" ]] || VOLFULL_BAD+=("volfull3: dind-init's plan gives dockerd storage driver '$line', expected $VOLFULL_WANT")
	if line=$(grep -iE 'volume full|volume [^;]* is full' "$LOGS/volfull3.log" | head -1); then
		VOLFULL_BAD+=("volfull3: with the space freed it still says the volume is full: $line")
	fi
	line=$(volfull_fallback_data)
	[[ -z $line ]] || VOLFULL_BAD+=("volfull3: data of a fallback driver on the data root: $line")
	if ((${#VOLFULL_BAD[@]})); then
		printf 'volfull: %s\n' "${VOLFULL_BAD[@]}" >&2
		fail "${#VOLFULL_BAD[@]} checks failed (listed above)"
	fi
	say "PASS volfull: on the full PVC dind-init kept $VOLFULL_WANT, Docker answered and listed the images, the full volume was named; after freeing space the next start is healthy"
}

# The explain scenario's outputs, written by pod.sh into the pod's /tmp (a tmpfs this script
# mounted, so still readable here after the pod ended).
XDIR=
x_show() { # x_show NAME: a command's exit code, stdout and stderr, for a failure report
	echo "----- $1: exit $(cat "$XDIR/$1.rc" 2>/dev/null || echo '?') -----" >&2
	cat "$XDIR/$1.out" >&2 2>/dev/null || true
	echo "----- $1: stderr -----" >&2
	cat "$XDIR/$1.err" >&2 2>/dev/null || true
}
x_rc() { # x_rc NAME WANT...: the command exited with one of WANT
	local rc w
	rc=$(cat "$XDIR/$1.rc") || fail "explain: no exit code recorded for $1"
	for w in "${@:2}"; do [[ $rc == "$w" ]] && return 0; done
	x_show "$1"
	fail "explain: $1 exited $rc, expected ${*:2}"
}
x_has() { # x_has NAME out|err REGEX WHAT
	grep -qE -- "$3" "$XDIR/$1.$2" && return 0
	x_show "$1"
	fail "explain: $1 printed no $4 (/$3/ on std$2)"
}
x_no_panic() { # x_no_panic NAME: exit code not Rust's panic code 101, no panic message
	x_rc "$1" 0 1
	if grep -qE 'panicked at|RUST_BACKTRACE' "$XDIR/$1.err"; then
		x_show "$1"
		fail "explain: $1 panicked"
	fi
}

scenario_explain() {
	pod_up
	say "explain: the seed's pod without dind-init as PID 1 (the entrypoint is a shell); plan, doctor, status as root and as coder"
	pod_run explain - /bin/bash "$STEP" explain
	show_evidence explain
	XDIR=$ROOT/tmp/explain
	expect_rc explain 0
	expect_log explain '^STEP_OK' "completed explain step (each command changed nothing)"
	# Host-side view of the pod's root filesystem: whatever the commands wrote there is in the
	# overlay's upper dir. Only directories copied up by the probe's (removed) trial dirs may be
	# there; a file, symlink or whiteout would be a change the pod can see.
	local left
	left=$(find "$UPPER" -mindepth 1 ! -type d -printf '/%P (%y)\n' | head -10)
	[[ -z $left ]] || fail "explain: plan/doctor/status left files on the pod's root filesystem: $left"
	echo "evidence: the pod's overlay upper holds no file, symlink or whiteout after the commands (directories copied up: $(find "$UPPER" -mindepth 1 -type d -printf '/%P ' | head -c 200))"
	local driver want_driver trial
	if [[ $STORE == graphdriver ]]; then want_driver=overlay2; else want_driver=overlayfs; fi

	# plan, as root: the bind of the PVC dir over /var/lib/docker and a real overlay driver.
	x_rc plan 0
	x_has plan out '^[0-9]+\. mount --bind /home/coder/\.docker-data /var/lib/docker( |$)' \
		"bind of /home/coder/.docker-data onto /var/lib/docker"
	x_has plan out "\\b$want_driver\\b" "storage driver $want_driver"
	x_rc plan-json 0
	driver=$(jq -r '.driver' "$XDIR/plan-json.out") || { x_show plan-json; fail "explain: plan --json is not JSON"; }
	[[ $driver == "$want_driver" ]] || { x_show plan-json; fail "explain: plan --json chose driver '$driver', expected $want_driver"; }
	echo "evidence: plan: $(grep -E 'mount --bind' "$XDIR/plan.out" | cut -c1-110)"
	echo "evidence: plan --json: driver $driver"

	# doctor, as root: the trial overlay mount on the data root works, the data root is on ext4.
	# Nothing in the seed's pod is beyond dind-init's fix: no check may fail (exit 1, a ✘).
	x_rc doctor 0
	if grep -q '^✘' "$XDIR/doctor.out"; then x_show doctor; fail "explain: doctor as root shows a failed check in the seed's pod"; fi
	x_has doctor out '^✔ overlay mount on the data root: ' "✔ for the overlay trial on the data root"
	x_has doctor out '^✔ data root on a persistent volume: /home/coder/\.docker-data .*is on ext4' \
		"data root /home/coder/.docker-data named on ext4"
	jq -e . "$XDIR/doctor-json.out" >/dev/null || { x_show doctor-json; fail "explain: doctor --json does not parse with jq"; }
	trial=$(jq -r '.checks[] | select(.what == "overlay mount on the data root") | .verdict' "$XDIR/doctor-json.out")
	[[ $trial == ok ]] || { x_show doctor-json; fail "explain: doctor --json: overlay trial verdict '$trial', expected ok"; }
	grep -E '^(✔|!|✘) ' "$XDIR/doctor.out" | sed 's/^/evidence: doctor: /'
	echo "evidence: doctor exit $(cat "$XDIR/doctor.rc"); doctor --json parses, overlay trial verdict: $trial"

	# status without dind-init as PID 1: not ready, exit 1, for root and for the devpod user.
	x_rc status 1
	x_has status out '^not ready' "'not ready' line"
	x_rc coder-status 1
	x_has coder-status out '^not ready' "'not ready' line"
	echo "evidence: status (root): $(head -1 "$XDIR/status.out")"

	# As coder (uid 1000): no panic, the note that root is needed, the trial not tried.
	for c in coder-doctor coder-plan; do
		x_no_panic "$c"
		x_has "$c" err 'note: not root.*trial mount.*need root' "note that root is needed for the trial mount"
	done
	x_has coder-doctor out '^! overlay mount on the data root: overlay mounts were not tried' "the overlay trial shown as not tried"
	x_has coder-plan out 'not tried' "the overlay trial shown as not tried"
	# plan as the devpod user prints the plan PID 1 (root) runs, not one for its own privileges.
	x_has coder-plan out '^[0-9]+\. mount --bind /home/coder/\.docker-data /var/lib/docker( |$)' \
		"the same bind step PID 1 would run"
	echo "evidence: doctor as coder: exit $(cat "$XDIR/coder-doctor.rc"), $(grep -E 'overlay mount on the data root' "$XDIR/coder-doctor.out")"
	echo "evidence: plan as coder: exit $(cat "$XDIR/coder-plan.rc"), $(grep -o '[^;—]*not tried[^;]*' "$XDIR/coder-plan.out" | head -1)"

	if [[ -n $KEEP_LOGS ]]; then
		for c in plan plan-json doctor doctor-json status coder-doctor coder-plan coder-status; do x_show "$c"; done
	fi
	if [[ -n $CAPTURE ]]; then
		capture_doc
		say "wrote $CAPTURE"
	fi
	say "PASS explain: plan and doctor explain the fix for the seed's pod and change nothing; status says not ready"
}

# The README's real `doctor` and `plan` output, from the run above (root, seed's situation).
capture_doc() {
	local version engine_text
	version=$(grep -oE '^✔ dockerd: dockerd [0-9][0-9.]*' "$XDIR/doctor.out" | grep -oE '[0-9][0-9.]*$') ||
		fail "explain: --capture: no dockerd version in doctor's output"
	if [[ $STORE == graphdriver ]]; then
		engine_text="Debian $ENGINE's Docker $version, \`\"storage-driver\": \"overlay2\"\` in /etc/docker/daemon.json"
	else
		engine_text="Debian $ENGINE's Docker $version with the containerd image store"
	fi
	{
		echo "<!-- Generated by tests/e2e/devpod.sh --engine $ENGINE --bin ${BIN#"$REPO/"} explain --capture ${CAPTURE#"$REPO/"} (as root): real output, regenerate instead of editing. -->"
		echo
		echo "\`dind-init doctor\` as root in the simulated seed devpod ($engine_text; /var/lib/docker on the pod's overlay root, the PVC (ext4) at /home/coder; \`DIND_USER=coder\`) before dind-init is its entrypoint — exit $(cat "$XDIR/doctor.rc"):"
		echo
		echo '```text'
		printf '%s\n' "$(cat "$XDIR/doctor.out")"
		echo '```'
		echo
		echo "\`dind-init plan\` in the same pod: what dind-init will do as PID 1, each step with its reason (it changed nothing) — exit $(cat "$XDIR/plan.rc"):"
		echo
		echo '```text'
		printf '%s\n' "$(cat "$XDIR/plan.out")"
		echo '```'
	} >"$CAPTURE.tmp"
	mv "$CAPTURE.tmp" "$CAPTURE"
}

check_prereqs
make_disks
make_layers
say "engine $ENGINE, image store $STORE, scenario $SCENARIO, DIND_CONTAINERD=$MODE${BIN:+, dind-init $BIN}"
case $SCENARIO in
without) scenario_without ;;
manual-fix) scenario_manual_fix ;;
basic) scenario_basic ;;
persist) scenario_persist ;;
mode-switch) scenario_mode_switch ;;
sigterm) scenario_sigterm ;;
stale) scenario_stale ;;
explain) scenario_explain ;;
restart) scenario_restart ;;
cg2-control) scenario_cg2_control ;;
cg2-nest) scenario_cg2_nest ;;
cg2-life) scenario_cg2_life ;;
keepvfs) scenario_keepvfs ;;
day1 | day1-*)
	# shellcheck source=../day1/scenario.sh
	source "$REPO/tests/day1/scenario.sh"
	scenario_day1 "${SCENARIO#day1}"
	;;
volfull) scenario_volfull ;;
esac
say "done in $(($(now_ms) - T0)) ms"
