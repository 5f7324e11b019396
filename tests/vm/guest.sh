#!/bin/bash
# Inside the test VM (tests/vm/init chroots here; / is the host's root over 9p, read-only).
# Makes the writable places the harness and the engines need, mounts a pure cgroup v2
# hierarchy with every controller enabled down to /kubepods (as the kubelet sets up a cgroup v2
# node), then runs each cell with tests/e2e/devpod.sh, the pod placed as containerd/runc place
# one (DEVPOD_CGROUP2_POD, see devpod.sh). One line per cell for tests/vm.rs:
#   VMCELL <engine> <scenario> <mode|-> PASS|FAIL <ms>
# Usage: guest.sh REPO DIND_INIT ENGINE:SCENARIO[:MODE],...
set -uo pipefail
REPO=$1 BIN=$2 CELLS=$3
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
# Under TCG (and a busy host) everything is several times slower than on the host: dockerd
# alone takes ~10-25 s to answer, one API call of the smoke test over 5 s. The harness's limits
# for a pod run grow, and so do the pods' settings, as a user on a slow node sets them:
# DIND_READY_TIMEOUT (devpod.sh passes DEVPOD_READY_TIMEOUT; it also bounds the smoke test: 20 s
# a call, 80 s in all at 240) and DIND_STOP_TIMEOUT (DEVPOD_STOP_TIMEOUT; sigterm's limit).
export DEVPOD_POD_TIMEOUT=${DEVPOD_POD_TIMEOUT:-300} DEVPOD_READY_TIMEOUT=${DEVPOD_READY_TIMEOUT:-240}
export DEVPOD_STOP_TIMEOUT=${DEVPOD_STOP_TIMEOUT:-40}
now_ms() { date +%s%3N; }

setup() {
	local d c
	for d in /tmp /run /root /var/tmp /var/log /var/lib/docker /var/lib/containerd /etc/docker; do
		[[ -d $d ]] && mount -t tmpfs -o mode=0755,size=2g vmtmp "$d"
	done
	chmod 1777 /tmp /var/tmp
	mkdir -p /dev/pts /dev/shm
	ln -sf /proc/self/fd /dev/fd
	ln -sf /proc/self/fd/0 /dev/stdin
	ln -sf /proc/self/fd/1 /dev/stdout
	ln -sf /proc/self/fd/2 /dev/stderr
	mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
	mount -t tmpfs -o mode=1777 shm /dev/shm
	modprobe -a loop ext4 overlay || echo "VMGUEST modprobe loop ext4 overlay failed"
	mount -t cgroup2 cgroup2 /sys/fs/cgroup || return 1
	echo "VMGUEST kernel $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
	mkdir /sys/fs/cgroup/kubepods
	for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
		echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control
		echo "+$c" >/sys/fs/cgroup/kubepods/cgroup.subtree_control
	done
	echo "VMGUEST /kubepods subtree_control: $(cat /sys/fs/cgroup/kubepods/cgroup.subtree_control)"
}

run_cell() { # run_cell ENGINE SCENARIO [MODE]
	local t0 rc=0 args=(--engine "$1")
	[[ -n ${3:-} ]] && args+=(--mode "$3" --bin "$BIN")
	t0=$(now_ms)
	echo "VMSTART $1 $2 ${3:--}"
	DEVPOD_CGROUP2_POD=/sys/fs/cgroup/kubepods bash "$REPO/tests/e2e/devpod.sh" "${args[@]}" "$2" 2>&1 || rc=$?
	echo "VMCELL $1 $2 ${3:--} $( ((rc == 0)) && echo PASS || echo FAIL) $(($(now_ms) - t0))"
}

if ! setup; then
	echo "VMFAIL guest setup"
	exit 1
fi
IFS=, read -ra cells <<<"$CELLS"
for cell in "${cells[@]}"; do
	IFS=: read -r engine scenario mode <<<"$cell"
	run_cell "$engine" "$scenario" "$mode"
done
echo VMDONE
