#!/bin/bash
# e2e: dind-init as the Docker sidecar of a devpod (issue 12, part 2).
#
# Two "containers", each with its own mount and pid namespaces, share one directory (the
# pod's emptyDir) for Docker's socket:
#   sidecar    `dind-init sidecar`, DOCKER_HOST=unix://<shared>/docker.sock (where dockerd
#              listens, as in docker:dind), data root on the "PVC", the socket given to gid
#              2375; its own net namespace. Readiness is `dind-init status` run inside it,
#              as the kubelet's startup probe would.
#   workspace  uid 1000 with supplementary group 2375 (the pod's supplementalGroups),
#              DOCKER_HOST at the same socket: `docker run` works from there; and over TLS
#              on the sidecar's tcp://127.0.0.1:2376 (DOCKER_TLS_CERTDIR, DIND_USER=1000:1000
#              makes client/ readable by it).
# Then SIGTERM to the sidecar's PID 1: dockerd and containerd stop in order, exit 0, and
# the socket is gone.
#
# Usage: BIN=target/debug/dind-init tests/sidecar/sidecar.sh

NAME=sidecar
# shellcheck source=tests/helpers/pods.sh
. "$(dirname "$0")/../helpers/pods.sh"

SHARED=$T/shared
mkdir -p "$SHARED" "$T/pvc" "$T/wscfg"
chmod 0755 "$T" "$SHARED"
chown 1000:1000 "$T/wscfg"
busybox_tar "$T/busybox.tar"

container_start sidecar DOCKER_HOST="unix://$SHARED/docker.sock" DIND_DATA_ROOT="$T/pvc/.docker-data" \
	DIND_DOCKERD_ARGS=--group=2375 DOCKER_TLS_CERTDIR="$T/certs" DIND_USER=1000:1000 DIND_LOG=info \
	-- "$BIN" sidecar
SIDECAR=$CPID
INIT=$(init_of "$SIDECAR")

# The startup probe: `dind-init status` inside the sidecar (its mount, pid and net namespaces).
deadline=$(($(now_ms) + 120000))
until nsenter --target "$INIT" --mount --pid --net "$BIN" status >"$T/status.out" 2>&1; do
	kill -0 "$SIDECAR" 2>/dev/null || fail "the sidecar exited before it was ready"
	(($(now_ms) < deadline)) || fail "not ready after 120 s: $(cat "$T/status.out")"
	sleep 0.2
done
say "startup probe: $(cat "$T/status.out")"
[[ -S $SHARED/docker.sock ]] || fail "no socket in the shared directory"
[[ $(stat -c '%g %a' "$SHARED/docker.sock") == "2375 660" ]] ||
	fail "socket is $(stat -c '%g %a' "$SHARED/docker.sock"), want group 2375 mode 660"

# The workspace container: another mount and pid namespace, an unprivileged user.
unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
	setpriv --reuid 1000 --regid 1000 --groups 2375 --inh-caps=-all \
	env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$T/wscfg" DOCKER_CONFIG="$T/wscfg" \
	DOCKER_HOST="unix://$SHARED/docker.sock" \
	sh -c "docker import $T/busybox.tar e2e/busybox >/dev/null &&
		docker run --rm --network none e2e/busybox sh -c 'echo hello from a container of the sidecar'" \
	>"$LOGS/workspace.log" 2>&1 || fail "docker run from the workspace container failed"
grep -q "hello from a container of the sidecar" "$LOGS/workspace.log" || fail "the container's output is missing"
say "workspace (uid 1000, own mount+pid namespaces): docker run works through the shared socket"

# The same workspace over TLS on the pod's loopback (containers of a pod share its network):
# the client certificates are readable by DIND_USER's group.
nsenter --net="/proc/$INIT/ns/net" \
	unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
	setpriv --reuid 1000 --regid 1000 --groups 2375 --inh-caps=-all \
	env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$T/wscfg" DOCKER_CONFIG="$T/wscfg" \
	DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$T/certs/client" \
	docker version --format 'server {{.Server.Version}} over TLS' >"$LOGS/workspace-tls.log" 2>&1 ||
	fail "docker over TLS from the workspace failed"
say "workspace over tcp://127.0.0.1:2376 with the client certificates: $(cat "$LOGS/workspace-tls.log")"

kill -TERM "$INIT"
wait_exit "$SIDECAR" 60
[[ $RC == 0 ]] || fail "the sidecar exited $RC after SIGTERM, want 0"
grep -q "dockerd stopped (exit 0)" "$LOGS/sidecar.log" || fail "dockerd did not stop cleanly"
if grep -q "containerd" "$LOGS/sidecar.log" && grep -q "started containerd" "$LOGS/sidecar.log"; then
	grep -q "containerd stopped" "$LOGS/sidecar.log" || fail "containerd did not stop"
	awk '/dockerd stopped/{d=NR} /containerd stopped/{c=NR} END{exit !(d && c && d < c)}' "$LOGS/sidecar.log" ||
		fail "containerd stopped before dockerd"
fi
[[ ! -e $SHARED/docker.sock ]] || fail "dockerd left its socket behind"
say "SIGTERM: dockerd, then containerd, stopped; exit 0; socket removed"
echo "PASS: $NAME"
