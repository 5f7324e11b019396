#!/usr/bin/env bash
# Issue 12 part 3 end to end: Docker's bridge networks against a pod route that covers
# 172.16.0.0/12 (the company network behind the pod's gateway). Needs root; everything lives in
# two network namespaces of its own and a private mount namespace, and is undone by a trap
# (processes stopped by PID, namespaces deleted, temp dir removed). The host's routes and
# iptables are never touched: dockerd's rules live in the pod's namespace.
#
#   company netns   eth0 10.42.0.1/24 (the pod's gateway); company hosts 172.17.0.10,
#                   172.18.0.10 and 172.20.0.1 (on lo), each serving "company" over HTTP on
#                   :8080 (busybox httpd)
#   pod netns       eth0 10.42.0.17/24, default and 172.16.0.0/12 via 10.42.0.1; dind-init is
#                   PID 1 of a new pid namespace in a private mount namespace (tmpfs on
#                   /etc/docker, /var/lib/docker, /run and the data root), Debian's dockerd with
#                   real bridge networking and iptables
#   session         imports a busybox image from a tar (no registry), creates a network as
#                   docker compose does, and from a container on docker0 and one on that
#                   network fetches every company host
#
# Usage: pools.sh [--engine bookworm|trixie] --bin DIND_INIT control|fix
#   --engine trixie  Debian trixie's Docker 26.1 from .cache/trixie/root (scripts/deps) instead of
#                    the host's bookworm Docker 20.10
#   control  DIND_ADDRESS_POOLS=off: Docker picks its networks; one lands inside 172.16.0.0/12
#            and the company hosts in it are unreachable from the containers (the clash)
#   fix      dind-init's choice (auto): every container address is outside the pod's routes
#            and every company host answers through NAT
# Exit 0 when the scenario's assertions hold; "evidence: …" lines are the key facts.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ENGINE=bookworm
BIN=
SCENARIO=
while (($#)); do
	case $1 in
	--engine) ENGINE=$2; shift 2 ;;
	--bin) BIN=$2; shift 2 ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "pools.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) SCENARIO=$1; shift ;;
	esac
done
case $SCENARIO in control | fix) ;; *) echo "pools.sh: scenario must be control or fix, not '$SCENARIO'" >&2; exit 2 ;; esac
case $ENGINE in bookworm | trixie) ;; *) echo "pools.sh: --engine must be bookworm or trixie, not '$ENGINE'" >&2; exit 2 ;; esac
[[ -x $BIN ]] || { echo "pools.sh: --bin $BIN is not an executable (cargo build)" >&2; exit 2; }
BIN=$(realpath "$BIN")
[[ $(id -u) == 0 ]] || { echo "pools.sh: needs root (namespaces, mounts, dockerd)" >&2; exit 2; }

# Re-enter in a private mount namespace: every mount made below dies with it.
if [[ -z ${POOLS_IN_NS:-} ]]; then
	exec unshare --mount --propagation private env POOLS_IN_NS=1 bash "$0" --engine "$ENGINE" --bin "$BIN" "$SCENARIO"
fi

T0=$(date +%s%3N)
say() {
	local ms=$(($(date +%s%3N) - T0))
	printf '[pools %3d.%01ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}
fail() {
	echo "FAIL: pools/$ENGINE/$SCENARIO: $*" >&2
	exit 1
}

# One dockerd world at a time on this machine (shared with tests/e2e/devpod.sh).
exec 9>"${DEVPOD_LOCK:-/tmp/dind-init-e2e.lock}"
flock -w 900 9 || fail "another e2e run held the lock for 15 minutes"

T=$(mktemp -d /tmp/dind-pools.XXXXXX)
POD=dind-pod-$$
CO=dind-co-$$
HOSTS="172.17.0.10 172.18.0.10 172.20.0.1"
# An HTTP GET with busybox nc (Debian's static busybox wget crashes): "company" when it answers.
GET='printf "GET / HTTP/1.0\r\n\r\n" | nc -w 1 "$0" 8080'
PIDS=()

cleanup() {
	local rc=$? pid
	set +e
	for pid in "${PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
	done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	ip netns del "$POD" 2>/dev/null
	ip netns del "$CO" 2>/dev/null
	if ((rc != 0)) && [[ -e $T/pod.log ]]; then
		echo "----- pod log (last 60 lines) -----" >&2
		tail -n 60 "$T/pod.log" >&2
	fi
	if grep -q " $T" /proc/self/mountinfo; then
		echo "pools: mounts left under $T; not removing it" >&2
	else
		rm -rf --one-file-system "$T"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

POD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [[ $ENGINE == trixie ]]; then
	TRIXIE=${DEVPOD_TRIXIE:-$REPO/.cache/trixie/root}
	[[ -x $TRIXIE/usr/sbin/dockerd ]] || fail "no trixie engine under $TRIXIE (run scripts/deps)"
	POD_PATH=$TRIXIE/usr/sbin:$TRIXIE/usr/bin:$POD_PATH
fi
for p in ip iptables nsenter unshare busybox dockerd docker containerd runc flock; do
	PATH=$POD_PATH command -v "$p" >/dev/null || fail "$p is not installed"
done

# The two namespaces and the veth between them.
ip netns add "$CO"
ip netns add "$POD"
ip link add "vp$$" type veth peer name "vc$$"
ip link set "vp$$" netns "$POD"
ip link set "vc$$" netns "$CO"
ip -n "$POD" link set "vp$$" name eth0
ip -n "$CO" link set "vc$$" name eth0
for ns in "$POD" "$CO"; do
	ip -n "$ns" link set lo up
	ip -n "$ns" link set eth0 up
done
ip -n "$CO" addr add 10.42.0.1/24 dev eth0
for h in $HOSTS; do ip -n "$CO" addr add "$h/32" dev lo; done
ip -n "$POD" addr add 10.42.0.17/24 dev eth0
ip -n "$POD" route add default via 10.42.0.1
ip -n "$POD" route add 172.16.0.0/12 via 10.42.0.1

# The company's HTTP listener.
mkdir -p "$T/www"
echo company >"$T/www/index.html"
ip netns exec "$CO" busybox httpd -f -vv -p 8080 -h "$T/www" 2>>"$T/httpd.log" &
PIDS+=($!)
for h in $HOSTS; do
	for _ in $(seq 50); do
		ip netns exec "$POD" busybox sh -c "$GET" "$h" 2>/dev/null | grep -q company && break
		sleep 0.1
	done
	ip netns exec "$POD" busybox sh -c "$GET" "$h" | grep -q company ||
		fail "the pod cannot reach company host $h before Docker starts (test setup)"
done
say "pod routes: $(ip -n "$POD" -4 route | tr '\n' ';')"
: >"$T/httpd.log" # from here on, only Docker's era

# A one-binary image: busybox and its applets.
mkdir -p "$T/img/bin" "$T/data"
cp "$(command -v busybox)" "$T/img/bin/busybox"
for a in sh nc printf sleep; do ln -s busybox "$T/img/bin/$a"; done
tar -C "$T/img" -cf "$T/busybox.tar" .

cat >"$T/session.sh" <<EOF
set -u
docker import "$T/busybox.tar" pools-e2e:1 >/dev/null || exit 10
docker network create pools_default >/dev/null || exit 11
for net in bridge pools_default; do
	docker run -d --pull=never --name "c_\$net" --network "\$net" pools-e2e:1 /bin/sleep 120 >/dev/null || exit 12
	ip=\$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "c_\$net")
	subnet=\$(docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' "\$net")
	echo "result: net \$net subnet \$subnet container \$ip"
	for h in $HOSTS; do
		if docker exec "c_\$net" /bin/sh -c '$GET' "\$h" 2>/dev/null | grep -q company; then
			echo "result: reach \$net \$h ok"
		else
			echo "result: reach \$net \$h unreachable"
		fi
	done
done
for h in $HOSTS; do
	if busybox sh -c '$GET' "\$h" 2>/dev/null | grep -q company; then
		echo "result: reach pod \$h ok"
	else
		echo "result: reach pod \$h unreachable"
	fi
done
docker rm -f c_bridge c_pools_default >/dev/null
EOF

POOLS=auto
[[ $SCENARIO == control ]] && POOLS=off
say "starting dind-init as PID 1 in the pod ($ENGINE: $(PATH=$POD_PATH dockerd --version)), DIND_ADDRESS_POOLS=$POOLS"
# shellcheck disable=SC2016 # expanded by the inner bash
nsenter --net="/run/netns/$POD" -- unshare --mount --propagation private -- bash -c '
	set -e
	T=$1; shift
	# The pod netns'"'"'s own sysfs (its interfaces), keeping the host'"'"'s cgroup mounts.
	mkdir -p "$T/cg"
	mount --rbind /sys/fs/cgroup "$T/cg"
	mount -t sysfs sysfs /sys
	mount --move "$T/cg" /sys/fs/cgroup
	for d in /etc/docker /var/lib/docker /run "$T/data"; do mount -t tmpfs -o mode=0755,size=1g pools "$d"; done
	exec unshare --pid --fork --kill-child --mount-proc "$@"
' _ "$T" env -i PATH="$POD_PATH" HOME=/root \
	DIND_DATA_ROOT="$T/data" DIND_ADDRESS_POOLS="$POOLS" DIND_STOP_TIMEOUT=10 DIND_READY_TIMEOUT=30 \
	"$BIN" -- bash "$T/session.sh" >"$T/pod.log" 2>&1 &
POD_PID=$!
PIDS+=("$POD_PID")
for _ in $(seq 900); do
	kill -0 "$POD_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$POD_PID" 2>/dev/null && fail "the pod did not finish within 90 s"
rc=0
wait "$POD_PID" || rc=$?
((rc == 0)) || fail "dind-init's session exited $rc"
say "pod finished"
grep -E "address pools|overlap|result:" "$T/pod.log" | sed 's/^/  /'

# Assertions.
in_1216() { [[ $1 =~ ^172\.(1[6-9]|2[0-9]|3[01])\. ]]; }
mapfile -t nets < <(sed -n 's/.*result: net \([^ ]*\) subnet \([^ ]*\) container \([^ ]*\).*/\1 \2 \3/p' "$T/pod.log")
((${#nets[@]} == 2)) || fail "expected two containers' results"
clashed=0
for row in "${nets[@]}"; do
	read -r net subnet ip <<<"$row"
	if in_1216 "$ip"; then
		clashed=1
		echo "evidence: container on $net got $ip in $subnet, inside the pod's route 172.16.0.0/12"
	else
		echo "evidence: container on $net got $ip in $subnet, outside every pod route"
	fi
done
unreach=$(grep -c 'result: reach .* unreachable' "$T/pod.log" || true)
reach=$(grep -c 'result: reach .* ok' "$T/pod.log" || true)
echo "evidence: company hosts reached $reach times, unreachable $unreach times (containers and the pod itself)"
case $SCENARIO in
control)
	((clashed)) || fail "Docker's own choice did not land inside 172.16.0.0/12: no clash to show"
	((unreach > 0)) || fail "every company host was reachable despite the clash"
	grep -q "overlap the pod's route 172.16.0.0/12" "$T/pod.log" || fail "dind-init did not warn about the clash it left alone"
	;;
fix)
	((clashed == 0)) || fail "a container address lies inside the pod's route 172.16.0.0/12"
	((unreach == 0)) || fail "a company host was unreachable: $(grep 'unreachable' "$T/pod.log" | head -3 | tr '\n' ';')"
	grep -q "address pools: .*route 172.16.0.0/12" "$T/pod.log" || fail "dind-init's plan does not say which route it avoided"
	# The company saw the pod's own address only: the containers went out through NAT.
	clients=$(grep -oE '[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+' "$T/httpd.log" | sort -u | tr '\n' ' ')
	echo "evidence: the company's listener saw clients: $clients"
	[[ $clients == "10.42.0.17 " ]] || fail "the company saw clients other than the pod's 10.42.0.17: $clients"
	;;
esac
say "PASS ($SCENARIO)"
