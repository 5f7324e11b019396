#!/bin/bash
# Steps run INSIDE the simulated devpod (chrooted into its overlay root), by the pod's entrypoint
# or as the user command under dind-init. Copied into an image layer at /opt/e2e/pod.sh by
# devpod.sh. Lines starting with "evidence:" are what the harness and the demo show; "STEP_OK"
# marks a step that finished its own checks. Any failed check exits non-zero with "pod: FAIL …".
set -euo pipefail

IMG=e2e/busybox
BUILT=e2e/built
BK=e2e/buildkit
VOL=e2e-vol
BUSYBOX_TAR=/opt/e2e/busybox.tar

fail() {
	echo "pod: FAIL: $*" >&2
	exit 1
}
evidence() { echo "evidence: $*"; }
now_ms() { date +%s%3N; }

# Wait until the Docker API answers /_ping (short polls, bounded): used where no dind-init
# guarantees readiness, i.e. when the pod runs dockerd itself.
wait_docker() {
	local limit_ms=$(($1 * 1000)) t0
	t0=$(now_ms)
	until docker version --format '{{.Server.Version}}' >/dev/null 2>&1; do
		if (($(now_ms) - t0 > limit_ms)); then
			return 1
		fi
		sleep 0.02
	done
	evidence "dockerd ready after $(($(now_ms) - t0)) ms: $(docker version --format 'server {{.Server.Version}}, client {{.Client.Version}}')"
}

# Import the busybox image (a tar of /bin/busybox plus applet symlinks): no registry needed.
import_image() {
	docker import "$BUSYBOX_TAR" "$IMG" >/dev/null
	evidence "imported $IMG: $(docker image inspect -f '{{.Id}}' "$IMG" | cut -c1-19)"
}

# Classic builder (DOCKER_BUILDKIT=0): FROM the imported image and RUN a command, which needs a
# container root filesystem mounted by the storage driver.
build_image() {
	printf 'FROM %s\nRUN echo built-ok > /built\n' "$IMG" |
		DOCKER_BUILDKIT=0 docker build -q -t "$BUILT" - >/dev/null
	evidence "docker build (classic builder, RUN step) made $BUILT"
}

# BuildKit, as the seed's user built (docker build with BuildKit, a RUN step).
buildkit_build() {
	local out
	out=$(printf 'FROM %s\nRUN echo buildkit-ok > /bk\n' "$IMG" |
		DOCKER_BUILDKIT=1 docker build --network none --progress=plain -t "$BK" - 2>&1) ||
		fail "BuildKit build failed: $(tail -5 <<<"$out" | tr '\n' ' ')"
	out=$(docker run --rm --pull=never --network none "$BK" cat /bk)
	[[ $out == buildkit-ok ]] || fail "BuildKit-built image printed '$out', expected buildkit-ok"
	evidence "docker build with BuildKit (RUN step) made $BK; docker run -> $out"
}

run_built() {
	local out
	out=$(docker run --rm --pull=never --network none "$BUILT" cat /built)
	[[ $out == built-ok ]] || fail "docker run printed '$out', expected built-ok"
	evidence "docker run --rm --pull=never --network none $BUILT cat /built -> $out"
}

# Who runs containerd: dind-init (PID 1) in separate mode, dockerd in managed mode. Read from
# /proc (stat is world-readable), so it works as uid 1000.
containerd_parent() {
	local p ppid pcomm
	for p in /proc/[0-9]*; do
		[[ $(cat "$p/comm" 2>/dev/null) == containerd ]] || continue
		ppid=$(awk '{print $4}' "$p/stat")
		pcomm=$(cat "/proc/$ppid/comm" 2>/dev/null || echo '?')
		echo "CONTAINERD_PARENT=$pcomm"
		evidence "containerd (pid ${p#/proc/}) is a child of $pcomm (pid $ppid)"
		return 0
	done
	echo "CONTAINERD_PARENT=none"
	evidence "no containerd process in the pod"
}

# What the seed's user needs: as uid 1000, docker info shows a real overlay driver on ext4,
# and build and run work.
user_checks() {
	local uid root driver fstype info
	uid=$(id -u)
	evidence "user command runs as $(id -un) uid=$uid gid=$(id -g) groups=$(id -G) HOME=$HOME"
	[[ $uid == 1000 ]] || fail "user command runs as uid $uid, expected 1000 (DIND_USER=coder)"
	info=$(docker info 2>&1) || fail "docker info failed as uid $uid: $(tail -3 <<<"$info" | tr '\n' ' ')"
	grep -E '^ *(Server Version|Storage Driver|Backing Filesystem|driver-type|Docker Root Dir):' <<<"$info" |
		sed 's/^ */evidence: docker info: /'
	driver=$(docker info -f '{{.Driver}}')
	root=$(docker info -f '{{.DockerRootDir}}')
	case $driver in
	overlay2 | overlayfs) ;;
	*) fail "storage driver is '$driver', expected overlay2 or overlayfs" ;;
	esac
	if grep -q 'Backing Filesystem:' <<<"$info"; then
		grep -q 'Backing Filesystem: extfs' <<<"$info" || fail "backing filesystem is not extfs"
	fi
	fstype=$(stat -f -c %T "$root")
	evidence "Docker Root Dir $root is on $fstype (stat -f)"
	[[ $fstype == ext2/ext3 ]] || fail "Docker Root Dir $root is on $fstype, expected ext4 (the PVC)"
	containerd_parent
	import_image
	build_image
	run_built
	buildkit_build
	echo STEP_OK
}

# `dind-init status` as the user command's user, while dind-init is PID 1: Kubernetes runs exec
# probes as the container's user (the devpod user here), so the readiness probe must answer for
# uid 1000, not only for root. Records STATUS_RC and STATUS_LINE; the harness asserts on them, so
# a failure here still lets the other checks report.
dind_status() {
	local out rc=0
	out=$(dind-init status 2>&1) || rc=$?
	echo "STATUS_RC=$rc"
	echo "STATUS_LINE=$out"
	evidence "dind-init status as $(id -un) (uid $(id -u)): exit $rc: $out"
}

# Leave volume $VOL holding a file, for a later run of the pod to find.
make_volume() {
	docker volume create "$VOL" >/dev/null
	docker run --rm --pull=never --network none -v "$VOL:/data" "$IMG" sh -c 'echo persisted > /data/f'
}

# A later run: the images named in "$@" and volume $VOL from the first run are listed, and
# the volume still holds its file.
check_kept() {
	local images vols out name
	images=$(docker image ls --format '{{.Repository}}' | sort | tr '\n' ' ')
	vols=$(docker volume ls -q | tr '\n' ' ')
	evidence "run 2: images: $images"
	evidence "run 2: volumes: $vols"
	for name in "$@"; do
		grep -qw "$name" <<<"$images" || fail "run 2: image $name from run 1 is lost (not listed)"
	done
	grep -qw "$VOL" <<<"$vols" || fail "run 2: volume $VOL from run 1 is lost (not listed)"
	out=$(docker run --rm --pull=never --network none -v "$VOL:/data" "$IMG" cat /data/f)
	[[ $out == persisted ]] || fail "run 2: volume $VOL holds '$out', expected persisted"
	evidence "run 2: volume $VOL still holds: $out"
}

# Run 1 of a restart: leave an image, a built image and a volume with a file on the PVC.
persist_write() {
	containerd_parent
	import_image
	build_image
	make_volume
	evidence "run 1: made images $IMG $BUILT and volume $VOL"
	echo STEP_OK
}

# Run 2 of a restart: everything from run 1 is still there and usable.
persist_read() {
	containerd_parent
	check_kept "$IMG" "$BUILT"
	run_built
	echo STEP_OK
}

# A long-running user command with a container running; on TERM it says so and exits 42.
sigterm_wait() {
	local cid sp
	import_image
	cid=$(docker run -d --network none "$IMG" sh -c 'trap "exit 0" TERM; sleep 1000 & wait')
	[[ $(docker inspect -f '{{.State.Running}}' "$cid") == true ]] || fail "container $cid is not running"
	evidence "container ${cid:0:12} running: $(docker ps --format '{{.Image}} {{.Status}}')"
	sleep 1000 &
	sp=$!
	trap 'echo "got TERM"; kill $sp 2>/dev/null; exit 42' TERM
	echo READY
	wait "$sp"
	fail "sleep ended without TERM"
}

# Run 1 of the stale-pidfile scenario: leave state behind, then get SIGKILLed.
stale_prepare() {
	import_image
	local sp
	sleep 1000 &
	sp=$!
	echo READY
	wait "$sp"
}

# Run 2: after the SIGKILL the daemon came back on the same PVC and works.
stale_check() {
	docker image inspect "$IMG" >/dev/null 2>&1 || fail "image $IMG lost after SIGKILL"
	local out
	out=$(docker run --rm --pull=never --network none "$IMG" echo alive)
	[[ $out == alive ]] || fail "docker run after SIGKILL printed '$out'"
	evidence "after the SIGKILL: image $IMG still there, docker run -> $out"
	echo STEP_OK
}

# wait_file FILE LIMIT_S: poll (50 ms) until FILE exists; false past the limit.
wait_file() {
	local deadline=$(($(now_ms) + $2 * 1000))
	until [[ -e $1 ]]; do
		(($(now_ms) < deadline)) || return 1
		sleep 0.05
	done
}

# The daemon-restart session (issue 5 item 5, issue 7 item 3): one round per daemon named in
# the arguments (dockerd, containerd), in order. Each round: "READY r", then wait for the
# harness's marker /tmp/e2e-killed-r (it holds the epoch ms of the SIGKILL the harness sent
# from outside the pod: this uid-1000 session cannot signal root's daemons), then poll until
# Docker answers again and a container runs, each bounded by RESTART_LIMIT_S from the kill.
# Lines RESTART_ANSWER/RESTART_RUN carry the measured times for the harness. After the last
# round "ROUNDS_DONE", and the session ends once the harness has checked the daemons
# (marker /tmp/e2e-checked).
RESTART_LIMIT_S=20
restart_session() {
	local r=0 d kill_ms deadline t out tries first
	[[ $(id -u) == 1000 ]] || fail "restart session runs as uid $(id -u), expected 1000 (DIND_USER=coder)"
	containerd_parent
	import_image
	out=$(docker run --rm --pull=never --network none "$IMG" echo before)
	[[ $out == before ]] || fail "docker run before any kill printed '$out'"
	evidence "session pid $$: docker run before the kills -> $out"
	for d in "$@"; do
		r=$((r + 1))
		echo "READY $r $d"
		wait_file "/tmp/e2e-killed-$r" 60 || fail "round $r: no kill marker /tmp/e2e-killed-$r within 60 s"
		kill_ms=$(cat "/tmp/e2e-killed-$r")
		[[ $kill_ms =~ ^[0-9]+$ ]] || fail "round $r: kill marker holds '$kill_ms', expected epoch ms"
		deadline=$((kill_ms + RESTART_LIMIT_S * 1000))
		until docker version --format '{{.Server.Version}}' >/dev/null 2>&1; do
			(($(now_ms) < deadline)) || fail "round $r: Docker did not answer within ${RESTART_LIMIT_S} s of the SIGKILL of $d"
			sleep 0.05
		done
		t=$(now_ms)
		echo "RESTART_ANSWER $r $d ms=$((t - kill_ms))"
		# The API answering is not enough after a containerd restart: dockerd must have
		# reconnected to it before a container can start, so retry within the same bound.
		tries=0 first=
		until tries=$((tries + 1)) && out=$(docker run --rm --pull=never --network none "$IMG" true 2>&1); do
			(($(now_ms) < deadline)) || fail "round $r: no container ran within ${RESTART_LIMIT_S} s of the SIGKILL of $d ($tries tries; last: $(tail -1 <<<"$out"))"
			[[ -n $first ]] || first=$(head -1 <<<"$out")
			sleep 0.05
		done
		[[ -z $first ]] || evidence "round $r: docker run failed $((tries - 1)) times before it worked; first error: $first"
		t=$(now_ms)
		echo "RESTART_RUN $r $d ms=$((t - kill_ms)) tries=$tries"
		evidence "round $r ($d SIGKILLed): session pid $$ still running; docker run --rm --pull=never --network none $IMG true worked $((t - kill_ms)) ms after the kill (try $tries)"
	done
	evidence "containers left after the restarts (docker ps -a): $(docker ps -aq | wc -l)"
	# Stay up while the harness looks at the pod's daemons after the restarts.
	echo ROUNDS_DONE
	wait_file /tmp/e2e-checked 60 || fail "no marker /tmp/e2e-checked from the harness within 60 s"
	echo STEP_OK
}

# Run 1 of keepvfs: with the slow driver pinned (DIND_STORAGE_DRIVER), leave an image and a
# volume with a file on the PVC.
keepvfs_write() {
	local want=$1 driver
	driver=$(docker info -f '{{.Driver}}')
	evidence "run 1: docker info: Storage Driver: $driver ($(docker info -f '{{.DriverStatus}}'))"
	[[ $driver == "$want" ]] || fail "run 1: storage driver is '$driver', expected $want (DIND_STORAGE_DRIVER pinned it)"
	import_image
	make_volume
	evidence "run 1: made image $IMG and volume $VOL on $driver"
	echo STEP_OK
}

# Run 2 of keepvfs: DIND_STORAGE_DRIVER unset (auto) would pick the overlay driver on ext4, but
# the data of run 1 was made with the slow driver: it must be kept, and everything still there.
keepvfs_read() {
	local want=$1 driver
	driver=$(docker info -f '{{.Driver}}')
	echo "DRIVER=$driver"
	evidence "run 2: docker info: Storage Driver: $driver ($(docker info -f '{{.DriverStatus}}'))"
	[[ $driver == "$want" ]] || fail "run 2: storage driver is '$driver', expected $want kept from run 1 (switching hides every image)"
	check_kept "$IMG"
	echo STEP_OK
}

# Issue 10, run 2 of volfull: the pod starts on a PVC full to the last block. Records for the
# harness what the user sees: `dind-init status`, the storage driver, the images Docker lists
# and what a docker run says. Only records (the harness asserts), so one missing answer does not
# hide the others.
volfull_full() {
	local driver images out rc=0
	dind_status
	driver=$(docker info -f '{{.Driver}}' 2>&1) || driver="docker info failed: $(tail -1 <<<"$driver")"
	echo "DRIVER=$driver"
	images=$(docker image ls --format '{{.Repository}}' 2>&1) || images="docker image ls failed: $(tail -1 <<<"$images")"
	images=$(sort <<<"$images" | tr '\n' ' ')
	echo "IMAGES=$images"
	out=$(docker run --rm --pull=never --network none "$IMG" echo hello 2>&1) || rc=$?
	evidence "full PVC: docker info: Storage Driver: $driver; docker image ls: $images"
	evidence "full PVC: docker run: exit $rc: $(tail -1 <<<"$out")"
	evidence "full PVC: $(df -h --output=target,size,used,avail,pcent /home/coder | tail -1); used $(df -B1 --output=used /home/coder | tail -1 | tr -d ' ') B"
	echo STEP_OK
}

# Issue 10, run 3 of volfull: space freed; the next start is healthy and nothing was lost.
volfull_freed() {
	local driver
	dind_status
	driver=$(docker info -f '{{.Driver}}')
	echo "DRIVER=$driver"
	evidence "space freed: docker info: Storage Driver: $driver"
	check_kept "$IMG" "$BUILT"
	run_built
	echo STEP_OK
}

# `dind-init plan`, `doctor` and `status` in the seed's pod BEFORE any fix: nothing runs as PID 1
# but this step, /var/lib/docker is on the overlay root, the PVC at /home/coder. Each command's
# stdout, stderr and exit code go to $EXPLAIN/NAME.{out,err,rc}, where the harness asserts on
# them (and takes the README's captured output from). Here only what needs the pod's own view:
# no command may change the mount table, /etc/docker or the files on the PVC.
EXPLAIN=/tmp/explain

# What plan/doctor/status must leave exactly as they found it. /proc/self/mountinfo is cat's,
# i.e. this pod's mount namespace.
explain_snapshot() { # explain_snapshot FILE
	{
		echo '## /proc/self/mountinfo'
		cat /proc/self/mountinfo
		echo '## /etc/docker/daemon.json'
		cat /etc/docker/daemon.json
		echo '## files under /etc/docker /home/coder /var/lib/docker /var/lib/containerd /run /tmp, and /var/lib itself (path mode owner)'
		{
			find /etc/docker /home/coder /var/lib/docker /var/lib/containerd /run -xdev -printf '%p %m %u\n'
			find /tmp -xdev -path "$EXPLAIN" -prune -o -printf '%p %m %u\n'
			find /var/lib -maxdepth 1 -printf '%p %m %u\n'
		} 2>/dev/null | sort || true
	} >"$1"
}

# explain_run NAME CMD...: run CMD, keep its output and exit code, then check it changed nothing.
explain_run() {
	local name=$1 rc=0
	shift
	"$@" >"$EXPLAIN/$name.out" 2>"$EXPLAIN/$name.err" || rc=$?
	echo "$rc" >"$EXPLAIN/$name.rc"
	evidence "$name: exit $rc ($(wc -l <"$EXPLAIN/$name.out") lines out, $(wc -l <"$EXPLAIN/$name.err") lines err)"
	explain_snapshot "$EXPLAIN/after-$name.snap"
	if ! cmp -s "$EXPLAIN/before.snap" "$EXPLAIN/after-$name.snap"; then
		diff "$EXPLAIN/before.snap" "$EXPLAIN/after-$name.snap" | head -20 >&2 || true
		fail "'$*' changed the pod (mount table, /etc/docker/daemon.json or files; diff above)"
	fi
}

explain() {
	local as_coder=(setpriv --reuid=1000 --regid=1000 --init-groups env HOME=/home/coder USER=coder LOGNAME=coder)
	[[ $(id -u) == 0 ]] || fail "the explain step runs as root, not uid $(id -u)"
	[[ $(cat /proc/1/comm) != dind-init ]] || fail "dind-init is PID 1; the explain step needs the seed's pod without it"
	mkdir -p "$EXPLAIN"
	[[ ! -e /home/coder/.docker-data ]] || fail "/home/coder/.docker-data exists before any dind-init ran"
	explain_snapshot "$EXPLAIN/before.snap"
	evidence "before: /var/lib/docker on $(stat -f -c %T /var/lib/docker 2>/dev/null || echo "$(stat -f -c %T /var/lib) (not created yet)"), /home/coder on $(stat -f -c %T /home/coder)"
	explain_run plan env DIND_USER=coder dind-init plan
	explain_run plan-json env DIND_USER=coder dind-init plan --json
	explain_run doctor env DIND_USER=coder dind-init doctor
	explain_run doctor-json env DIND_USER=coder dind-init doctor --json
	explain_run status dind-init status
	explain_run coder-doctor "${as_coder[@]}" DIND_USER=coder dind-init doctor
	explain_run coder-plan "${as_coder[@]}" DIND_USER=coder dind-init plan
	explain_run coder-status "${as_coder[@]}" dind-init status
	[[ ! -e /home/coder/.docker-data ]] || fail "/home/coder/.docker-data was created by plan/doctor/status"
	evidence "after each command: mount table, /etc/docker/daemon.json and the files under /etc/docker, /home/coder, /var/lib, /run, /tmp byte-identical; /home/coder/.docker-data not created"
	echo STEP_OK
}

# Scenario (a) for Docker >= 26 with the containerd image store, as the seed's pod had it: dockerd
# on the overlay root starts and answers, and the first run/build fails. The harness asserts the
# exact symptoms from the RC lines and error text; this step only records them.
without_containerd_store() {
	dockerd >/var/log/dockerd.log 2>&1 &
	local dpid=$! rc out
	if ! wait_docker 60; then
		tail -20 /var/log/dockerd.log
		fail "dockerd did not become ready"
	fi
	evidence "docker info: $(docker info -f 'Storage Driver: {{.Driver}} {{.DriverStatus}} Root: {{.DockerRootDir}}')"
	evidence "Docker Root Dir is on $(stat -f -c %T "$(docker info -f '{{.DockerRootDir}}')")"
	set +e
	out=$(docker import "$BUSYBOX_TAR" "$IMG" 2>&1)
	rc=$?
	echo "IMPORT_RC=$rc"
	evidence "docker import of the busybox tar: exit $rc ${out:0:19}"
	out=$(docker run --rm --pull=never --network none "$IMG" echo hello 2>&1)
	rc=$?
	echo "RUN_RC=$rc"
	grep -vE "^$|--help" <<<"$out" | sed 's/^/evidence: docker run: /'
	out=$(printf 'FROM %s\nRUN echo test\n' "$IMG" | DOCKER_BUILDKIT=0 docker build - 2>&1)
	rc=$?
	echo "BUILD_RC=$rc"
	echo "$out" | grep -iE 'error|invalid' | sed 's/^/evidence: docker build: /'
	out=$(printf 'FROM %s\nRUN echo test\n' "$IMG" | DOCKER_BUILDKIT=1 docker build --network none --progress=plain - 2>&1)
	rc=$?
	echo "BUILDKIT_RC=$rc"
	grep -E 'ERROR|invalid argument' <<<"$out" | head -3 | sed 's/^/evidence: buildkit: /'
	set -e
	kill -TERM "$dpid"
	wait "$dpid" || true
	echo STEP_OK
}

# The seed's manual fix, with no dind-init: dockerd with --data-root on the PVC, then the user
# checks as uid 1000. Proves the simulated devpod itself can run containers when Docker's data
# is on ext4, independent of dind-init.
manual_fix() {
	local gid rc=0
	mkdir -p /home/coder/.docker-data
	dockerd --data-root /home/coder/.docker-data >/var/log/dockerd.log 2>&1 &
	local dpid=$!
	if ! wait_docker 60; then
		tail -20 /var/log/dockerd.log
		fail "dockerd did not become ready"
	fi
	gid=$(getent group docker | cut -d: -f3)
	setpriv --reuid=1000 --regid=1000 --groups="$gid" env HOME=/home/coder USER=coder \
		/bin/bash /opt/e2e/pod.sh user-checks || rc=$?
	kill -TERM "$dpid"
	wait "$dpid" || true
	return "$rc"
}

# ---- cgroup v2 pod (tests/vm): a container with cpu, memory and pids limits, and the limits it
# sees in its own cgroup. LIMITS_RC and LIMITS_OUT lines for the harness.
limits_run() {
	local out rc=0
	out=$(docker run --rm --pull=never --network none --memory 64m --pids-limit 50 --cpus 0.5 "$IMG" \
		cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max 2>&1) || rc=$?
	echo "LIMITS_RC=$rc"
	sed 's/^/LIMITS_OUT=/' <<<"$out"
	evidence "docker run --memory 64m --pids-limit 50 --cpus 0.5: exit $rc: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
}

# Control: dockerd started by hand in the pod, so the pod's root cgroup holds processes.
cg2_control() {
	local dpid
	mkdir -p /home/coder/.docker-data
	dockerd --data-root /home/coder/.docker-data >/var/log/dockerd.log 2>&1 &
	dpid=$!
	wait_docker 90 || { tail -20 /var/log/dockerd.log; fail "dockerd did not become ready"; }
	import_image
	limits_run
	kill -TERM "$dpid"
	wait "$dpid" || true
	echo STEP_OK
}

# Under dind-init (as coder): the readiness probe, the basic checks, the limits, and where the
# pod's processes are: none in the pod's root cgroup, PID 1 in the leaf dind-init made.
cg2_nest() {
	dind_status
	user_checks
	limits_run
	echo "POD_ROOT_PROCS=$(wc -l </sys/fs/cgroup/cgroup.procs)"
	echo "PID1_CGROUP=$(cat /proc/1/cgroup)"
	echo "POD_SUBTREE=$(cat /sys/fs/cgroup/cgroup.subtree_control)"
	evidence "pod root cgroup: $(wc -l </sys/fs/cgroup/cgroup.procs) processes, subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control); PID 1 in $(cat /proc/1/cgroup)"
	dind-init doctor 2>/dev/null | grep -i cgroup | sed 's/^/DOCTOR: /' || true
	dind-init plan 2>/dev/null | grep -i cgroup | sed 's/^/PLAN: /' || true
}

# ---- cg2-life (tests/vm): run 1 of one pod lifecycle: persist's data, the restart session's
# rounds for the daemons named after LIMIT_S (each round bounded by LIMIT_S: an emulated VM's
# dockerd takes longer than RESTART_LIMIT_S to start), then sigterm's container until TERM.
life_run1() { # life_run1 LIMIT_S DAEMON...
	RESTART_LIMIT_S=$1
	persist_write
	restart_session "${@:2}"
	sigterm_wait
}

step=${1:-}
case $step in
user-checks) user_checks ;;
dind-user-checks)
	dind_status
	user_checks
	;;
persist-write) persist_write ;;
persist-read) persist_read ;;
sigterm-wait) sigterm_wait ;;
stale-prepare) stale_prepare ;;
stale-check) stale_check ;;
restart-session) restart_session "${@:2}" ;;
keepvfs-write) keepvfs_write "$2" ;;
keepvfs-read) keepvfs_read "$2" ;;
volfull-full) volfull_full ;;
volfull-freed) volfull_freed ;;
without-containerd-store) without_containerd_store ;;
manual-fix) manual_fix ;;
explain) explain ;;
cg2-control) cg2_control ;;
cg2-nest) cg2_nest ;;
life-run1) life_run1 "${@:2}" ;;
*) fail "unknown step '$step'" ;;
esac
