#!/usr/bin/env bash
# Time to Docker ready and stop time, dind-init against bare dockerd, all in one run:
#   bare      dockerd alone (it starts its own containerd), as a devpod ENTRYPOINT would;
#   floor     containerd first, then `dockerd --containerd=<socket>` (issue 7's floor);
#   managed   dind-init as PID 1, DIND_CONTAINERD=managed;
#   separate  dind-init as PID 1, DIND_CONTAINERD=separate.
# For each engine: Debian bookworm's Docker 20.10 (graphdriver overlay2) and, when
# scripts/deps unpacked it into .cache/trixie/root, trixie's Docker 26.1 with the
# containerd image store. All variants of an engine share one data root on /tmp (ext4).
# "ready" = first 200 OK of GET /_ping, polled every 10 ms from process start;
# "status" = first `dind-init status` exit 0 (ready + dind-init's smoke test);
# "stop" = SIGTERM to PID 1 (or dockerd) until every process is gone, with 0 and 1
# running containers. Medians of ROUNDS rounds (default 3).
#
#   sudo bench/docker-ready.sh
# Needs root, dockerd/containerd/runc/docker (docker.io), curl, busybox. Everything runs
# in a private mount namespace with its own /run and a copy of /etc, so the host's docker
# socket, daemon.json and groups are never touched.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-3}
READY_TIMEOUT=${READY_TIMEOUT:-60}
TROOT=${DEVPOD_TRIXIE:-$repo/.cache/trixie/root}

[ "$(id -u)" = 0 ] || { echo "docker-ready: needs root" >&2; exit 2; }
for p in dockerd containerd runc docker curl busybox unshare; do
    command -v "$p" >/dev/null || { echo "docker-ready: needs $p on PATH" >&2; exit 2; }
done

if [ "${DIND_BENCH_NS:-}" != 1 ]; then
    DIND_BENCH_NS=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi

bin=${DIND_INIT_BIN:-$repo/target/x86_64-unknown-linux-musl/release/dind-init}
if [ -z "${DIND_INIT_BIN:-}" ]; then
    (cd "$repo" && cargo build --quiet --release --locked --target x86_64-unknown-linux-musl)
fi
[ -x "$bin" ] || { echo "docker-ready: no binary at $bin" >&2; exit 2; }

report=${BENCH_OUT:-/tmp}/docker-ready.md
mkdir -p "$(dirname "$report")"
w=$(mktemp -d /tmp/dind-init-ready.XXXXXX)
pids=()
cleanup() {
    set +e
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    awk -v w="$w" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m"; done
    if [ "${KEEP:-0}" = 1 ]; then echo "docker-ready: kept $w" >&2; else rm -rf "$w"; fi
}
trap cleanup EXIT

# Private /run (docker.sock, exec-root, containerd's state) and /etc (daemon.json, the
# docker group dind-init may create); the host sees none of it.
mount -t tmpfs -o mode=755 tmpfs /run
cp -a /etc "$w/etc"
mount --bind "$w/etc" /etc
mkdir -p /etc/docker

now_us() { echo "${EPOCHREALTIME/./}"; }
ms_since() { echo $((($(now_us) - $1) / 1000)); }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "-" }'; }
ping_ok() { [ "$(curl -s --max-time 1 --unix-socket /run/docker.sock http://docker/_ping 2>/dev/null)" = OK ]; }

# Wait (polling every 10 ms) until $1 returns 0; prints ms since $2, or "fail" after READY_TIMEOUT.
wait_for() {
    local check=$1 t0=$2 limit=$((READY_TIMEOUT * 1000))
    until $check; do
        if [ "$(ms_since "$t0")" -gt "$limit" ]; then echo fail; return 1; fi
        sleep 0.01
    done
    ms_since "$t0"
}

# A pid's children (pids of the same pid namespace as ours).
children() { cat "/proc/$1/task/$1/children" 2>/dev/null || true; }

# Stop in order: each argument is SIGNALLED:AWAITED (two pids, or one), SIGTERM the
# first and wait until the second, our child, has exited. Sets $stopped to the total
# ms (not printed: `wait` only works in this shell, not in a $(...) subshell).
stop_in_order() {
    local t0 pair
    t0=$(now_us)
    for pair in "$@"; do
        kill -TERM "${pair%%:*}" 2>/dev/null || true
        wait "${pair##*:}" 2>/dev/null || true
    done
    stopped=$(ms_since "$t0")
}

engines=(bookworm)
if [ -x "$TROOT/usr/sbin/dockerd" ]; then engines+=(trixie); fi

# Same settings for every variant of an engine, written before each start (dind-init
# merges its own settings into this file, and a bare dockerd must not see them).
daemon_json() {
    local extra=
    [ "$1" = trixie ] && extra=', "features": {"containerd-snapshotter": true}'
    printf '{"data-root": "%s", "bridge": "none", "iptables": false, "ip6tables": false%s}\n' \
        "$w/$1/data" "$extra" >/etc/docker/daemon.json
}

cat >"$w/containerd.toml" <<'EOF'
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
EOF

# Start variant $2 of engine $1 in the background; sets stop_pids (what to SIGTERM, in order).
start() {
    local engine=$1 variant=$2 u init sock=/run/docker/containerd/containerd.sock
    daemon_json "$engine"
    case $variant in
    bare)
        dockerd >>"$w/$engine.$variant.log" 2>&1 &
        pids+=("$!")
        stop_pids=("$!")
        ;;
    floor)
        mkdir -p /run/docker/containerd
        containerd --config "$w/containerd.toml" --root "$w/$engine/data/containerd/daemon" \
            --state /run/docker/containerd/daemon --address "$sock" >>"$w/$engine.$variant.log" 2>&1 &
        local c=$!
        pids+=("$c")
        until [ -S "$sock" ]; do sleep 0.005; done
        dockerd --containerd="$sock" >>"$w/$engine.$variant.log" 2>&1 &
        pids+=("$!")
        stop_pids=("$!" "$c")
        ;;
    managed | separate)
        DIND_CONTAINERD=$variant DIND_DATA_ROOT=$w/$engine/data DIND_STRATEGY=data-root \
            DIND_START_DOCKERD=true DIND_STOP_TIMEOUT=25 \
            unshare --pid --fork --mount-proc "$bin" sleep infinity >>"$w/$engine.$variant.log" 2>&1 &
        u=$!
        pids+=("$u")
        init=
        while [ -z "$init" ] && kill -0 "$u" 2>/dev/null; do init=$(children "$u"); done
        init=${init%% *}
        stop_pids=("$init:$u")
        ;;
    esac
}

status_ok() { "$bin" status >/dev/null 2>&1; }

container() {
    docker run -d --rm --network none bench/busybox \
        sh -c 'trap "exit 0" TERM; sleep 1000 & wait' >/dev/null
}

declare -A res
variants=(bare floor managed separate)
for engine in "${engines[@]}"; do
    if [ "$engine" = trixie ]; then
        export PATH=$TROOT/usr/sbin:$TROOT/usr/bin:$PATH
    fi
    version=$(dockerd --version | sed -E 's/^Docker version ([^,]*).*/\1/')
    echo "== $engine: Docker $version"
    res[$engine,version]=$version

    # Warm-up: initialise the data root and import the image every variant runs.
    start "$engine" bare
    wait_for ping_ok "$(now_us)" >/dev/null || { tail "$w/$engine.bare.log" >&2; exit 1; }
    base=$w/base
    if [ ! -d "$base" ]; then
        mkdir -p "$base/bin"
        cp "$(command -v busybox)" "$base/bin/busybox"
        for a in sh sleep; do ln -s busybox "$base/bin/$a"; done
    fi
    tar -C "$base" -c . | docker import - bench/busybox >/dev/null
    stop_in_order "${stop_pids[@]}"

    for variant in "${variants[@]}"; do
        for r in $(seq "$ROUNDS"); do
            t0=$(now_us)
            start "$engine" "$variant"
            if ! ready=$(wait_for ping_ok "$t0"); then
                echo "   $variant: not ready after ${READY_TIMEOUT}s (log: $(tail -1 "$w/$engine.$variant.log"))"
                stop_in_order "${stop_pids[@]}"
                res[$engine,$variant,ready]+="fail "
                break
            fi
            status=-
            if [ "$variant" = managed ] || [ "$variant" = separate ]; then
                status=$(wait_for status_ok "$t0") || status=fail
            fi
            stop_in_order "${stop_pids[@]}"
            stop0=$stopped

            start "$engine" "$variant"
            wait_for ping_ok "$(now_us)" >/dev/null
            container
            stop_in_order "${stop_pids[@]}"
            stop1=$stopped
            echo "   $variant round $r: ready ${ready} ms, status ${status} ms, stop ${stop0} ms, stop with a container ${stop1} ms"
            res[$engine,$variant,ready]+="$ready "
            res[$engine,$variant,status]+="$status "
            res[$engine,$variant,stop0]+="$stop0 "
            res[$engine,$variant,stop1]+="$stop1 "
        done
    done
done

med() { tr ' ' '\n' <<<"${res[$1]:-}" | awk '/^[0-9]+$/' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9]+$/ && b > 0) printf "%.2f×", a / b; else print "-" }'; }
{
    echo
    echo "| engine | variant | ready (ms) | ÷ bare | ÷ floor | dind-init status (ms) | stop, 0 containers (ms) | stop, 1 container (ms) |"
    echo "|---|---|---|---|---|---|---|---|"
    for engine in "${engines[@]}"; do
        bare=$(med "$engine,bare,ready")
        floor=$(med "$engine,floor,ready")
        for variant in "${variants[@]}"; do
            ready=$(med "$engine,$variant,ready")
            if [[ ${res[$engine,$variant,ready]:-} == *fail* ]]; then ready=fail; fi
            echo "| ${res[$engine,version]} | $variant | $ready | $(ratio "$ready" "$bare") |" \
                "$(ratio "$ready" "$floor") | $(med "$engine,$variant,status") |" \
                "$(med "$engine,$variant,stop0") | $(med "$engine,$variant,stop1") |"
        done
    done
    echo
    echo "medians of $ROUNDS rounds; target (issue 6): dind-init ready ≤ 1.1× bare dockerd;" \
        "issue 7: ≤ 1.1× floor on Docker 26.1 and stop with no containers < 100 ms"
} | tee "$report"
