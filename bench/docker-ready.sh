#!/usr/bin/env bash
# Time to Docker ready, time to the user's command and stop time, dind-init against bare
# dockerd, the containerd-first floor and the usual inits, all measured in this one run:
#   bare      dockerd alone (it starts its own containerd), as a devpod ENTRYPOINT would;
#   floor     containerd first, then `dockerd --containerd=<socket>` (issue 7's floor);
#   tini, dumb-init, catatonit  that init as PID 1 of the usual DinD entrypoint script:
#             dockerd in the background, /_ping polled every 10 ms, then the command;
#   managed   dind-init as PID 1, DIND_CONTAINERD=managed;
#   separate  dind-init as PID 1, DIND_CONTAINERD=separate (what `auto` picks).
# Engines: Debian bookworm's Docker 20.10 (graphdriver overlay2) and, when scripts/deps
# unpacked them into .cache/, trixie's Docker 26.1 and sid's Docker 28.5 (with the host's
# runc), both with the containerd image store. ENGINES="trixie sid" picks some.
# "ready" = first 200 OK of GET /_ping, a new connection every 10 ms from the start;
# "cmd"   = the user's command started (it writes `date +%s%N` to a marker file); bare and
#           floor run no command: their cmd is their ready, the best a command could do;
# "warm"  = the data root already holds data (and dind-init's storage proof and version
#           caches): a pod's second start; managed and separate each have their own (a pod
#           keeps its mode, and the proof names it); "cold" = a fresh, empty data root each time;
# "status" = first `dind-init status` exit 0 (ready + storage smoke test or proof);
# "stop"  = SIGTERM to PID 1 (or dockerd) until every process is gone, 0 and 1 containers.
# Rounds are interleaved (every variant once per round); medians of ROUNDS (default 5),
# spread = min–max; ratios are of medians of this run.
#
#   sudo bench/docker-ready.sh && bench/readme.sh --update docker-ready /tmp/docker-ready.md
# Needs root, dockerd/containerd/runc/docker (docker.io), curl, busybox, tini, dumb-init,
# catatonit. Everything runs in a private mount namespace with its own /run and a copy of
# /etc, so the host's docker socket, daemon.json and groups are never touched.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
READY_TIMEOUT=${READY_TIMEOUT:-60}
TROOT=${DEVPOD_TRIXIE:-$repo/.cache/trixie/root}
SROOT=${DEVPOD_SID:-$repo/.cache/sid/root}

[ "$(id -u)" = 0 ] || { echo "docker-ready: needs root" >&2; exit 2; }
for p in dockerd containerd runc docker curl busybox unshare date tini dumb-init catatonit; do
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

# Like `wait_for ping_ok`, but every 10 ms a new curl in the background once the socket
# exists: dockerd creates its socket before it serves it, and a connection made in between
# is never answered, so one blocking curl at a time would measure its own timeout, not
# dockerd. (No curl before the socket exists: they would only take CPU from the start.)
wait_ping() {
    local t0=$1 limit=$((READY_TIMEOUT * 1000)) d n=0
    d=$(mktemp -d "$w/ping.XXXXXX")
    until grep -qx OK "$d"/* 2>/dev/null; do
        if [ "$(ms_since "$t0")" -gt "$limit" ]; then echo fail; return 1; fi
        if [ -S /run/docker.sock ]; then
            curl -s --max-time 2 --unix-socket /run/docker.sock -o "$d/$n" http://docker/_ping \
                >/dev/null 2>&1 &
            n=$((n + 1))
        fi
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
if [ -x "$SROOT/usr/sbin/dockerd" ]; then engines+=(sid); fi
if [ -n "${ENGINES:-}" ]; then read -ra engines <<<"$ENGINES"; fi
host_path=$PATH

# Same settings for every variant of an engine, written before each start (dind-init
# merges its own settings into this file, and a bare dockerd must not see them).
daemon_json() { # ENGINE DATA_ROOT
    local extra=
    [ "$1" != bookworm ] && extra=', "features": {"containerd-snapshotter": true}'
    printf '{"data-root": "%s", "bridge": "none", "iptables": false, "ip6tables": false%s}\n' \
        "$2" "$extra" >/etc/docker/daemon.json
}

cat >"$w/containerd.toml" <<'EOF'
version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
EOF

# The usual DinD entrypoint the other inits run: dockerd, /_ping every 10 ms, the command.
marker=$w/cmd-started
cat >"$w/entrypoint.sh" <<'EOF'
#!/bin/sh
dockerd >>"$1" 2>&1 &
d=$!
trap 'kill -TERM $d; wait $d; exit 0' TERM
until [ "$(curl -s --max-time 1 --unix-socket /run/docker.sock http://docker/_ping 2>/dev/null)" = OK ]; do
    sleep 0.01
done
date +%s%N >"$2"
wait
EOF
chmod +x "$w/entrypoint.sh"
# dind-init's user command: record when it started, then stay.
user_cmd=(sh -c 'date +%s%N >"$0"; exec sleep infinity' "$marker")

# The PID 1 that unshare ($1) forked.
pid1_of() {
    local init=
    while [ -z "$init" ] && kill -0 "$1" 2>/dev/null; do init=$(children "$1"); done
    echo "${init%% *}"
}

# Start variant $2 of engine $1 on data root $3 in the background; sets stop_pids (what
# to SIGTERM, in order).
start() {
    local engine=$1 variant=$2 data=$3 u sock=/run/docker/containerd/containerd.sock
    local log=$w/$engine.$variant.log
    daemon_json "$engine" "$data"
    rm -f "$marker"
    case $variant in
    bare)
        dockerd >>"$log" 2>&1 &
        pids+=("$!")
        stop_pids=("$!")
        ;;
    floor)
        mkdir -p /run/docker/containerd
        containerd --config "$w/containerd.toml" --root "$data/containerd/daemon" \
            --state /run/docker/containerd/daemon --address "$sock" >>"$log" 2>&1 &
        local c=$!
        pids+=("$c")
        until [ -S "$sock" ]; do sleep 0.005; done
        dockerd --containerd="$sock" >>"$log" 2>&1 &
        pids+=("$!")
        stop_pids=("$!" "$c")
        ;;
    tini | dumb-init | catatonit)
        local launch=("$variant")
        [ "$variant" = dumb-init ] || launch+=(--)
        unshare --pid --fork --mount-proc "${launch[@]}" "$w/entrypoint.sh" "$log" "$marker" \
            >>"$log" 2>&1 &
        u=$!
        pids+=("$u")
        stop_pids=("$(pid1_of "$u"):$u")
        ;;
    managed | separate)
        DIND_CONTAINERD=$variant DIND_DATA_ROOT=$data DIND_STRATEGY=data-root \
            DIND_START_DOCKERD=true DIND_STOP_TIMEOUT=25 \
            unshare --pid --fork --mount-proc "$bin" "${user_cmd[@]}" >>"$log" 2>&1 &
        u=$!
        pids+=("$u")
        stop_pids=("$(pid1_of "$u"):$u")
        ;;
    esac
}

status_ok() { "$bin" status >/dev/null 2>&1; }
cmd_started() { [ -s "$marker" ]; }
is_dind() { [ "$1" = managed ] || [ "$1" = separate ]; }

container() {
    docker run -d --rm --network none bench/busybox \
        sh -c 'trap "exit 0" TERM; sleep 1000 & wait' >/dev/null
}

# One start of variant $2 of engine $1 on data root $3: sets ready, cmd, status (ms since
# the start, or fail) and stop0 (ms), then stops it.
measure() {
    local engine=$1 variant=$2 data=$3 t0
    t0=$(now_us)
    start "$engine" "$variant" "$data"
    ready=fail cmd=fail status=-
    if ready=$(wait_ping "$t0"); then
        case $variant in
        bare | floor) cmd=$ready ;;
        *) wait_for cmd_started "$t0" >/dev/null && cmd=$((($(cat "$marker") / 1000 - t0) / 1000)) ;;
        esac
        if is_dind "$variant"; then status=$(wait_for status_ok "$t0") || status=fail; fi
    else
        ready=fail
        echo "   $variant: not ready after ${READY_TIMEOUT}s (log: $(tail -1 "$w/$engine.$variant.log"))"
    fi
    stop_in_order "${stop_pids[@]}"
    stop0=$stopped
}

declare -A res
variants=(bare floor tini dumb-init catatonit managed separate)
for engine in "${engines[@]}"; do
    export PATH=$host_path
    case $engine in
    trixie) export PATH=$TROOT/usr/sbin:$TROOT/usr/bin:$PATH ;;
    sid) export PATH=$SROOT/usr/sbin:$SROOT/usr/bin:$PATH ;;
    esac
    version=$(dockerd --version | sed -E 's/^Docker version ([^,]*).*/\1/')
    echo "== $engine: Docker $version"
    res[$engine,version]=$version
    # Warm-up: initialise each warm data root and import the image the stop test runs;
    # one dind-init start leaves its storage proof and version caches, as a pod's first.
    base=$w/base
    if [ ! -d "$base" ]; then
        mkdir -p "$base/bin"
        cp "$(command -v busybox)" "$base/bin/busybox"
        for a in sh sleep; do ln -s busybox "$base/bin/$a"; done
    fi
    for v in data managed separate; do
        start "$engine" bare "$w/$engine/$v"
        wait_for ping_ok "$(now_us)" >/dev/null || { tail "$w/$engine.bare.log" >&2; exit 1; }
        tar -C "$base" -c . | docker import - bench/busybox >/dev/null
        stop_in_order "${stop_pids[@]}"
    done
    for v in managed separate; do measure "$engine" "$v" "$w/$engine/$v"; done

    for r in $(seq "$ROUNDS"); do
        for variant in "${variants[@]}"; do
            warm=$w/$engine/data
            is_dind "$variant" && warm=$w/$engine/$variant
            measure "$engine" "$variant" "$warm"
            res[$engine,$variant,ready]+="$ready "
            res[$engine,$variant,cmd]+="$cmd "
            res[$engine,$variant,status]+="$status "
            res[$engine,$variant,stop0]+="$stop0 "
            line="ready $ready, cmd $cmd, status $status, stop $stop0"
            case $variant in
            tini | dumb-init | catatonit) ;;
            *)
                start "$engine" "$variant" "$warm"
                wait_for ping_ok "$(now_us)" >/dev/null && container
                stop_in_order "${stop_pids[@]}"
                res[$engine,$variant,stop1]+="$stopped "
                measure "$engine" "$variant" "$w/$engine/cold-$variant-$r"
                res[$engine,$variant,cold]+="$cmd "
                res[$engine,$variant,coldready]+="$ready "
                line+=", stop with a container $stopped, cold: ready $ready cmd $cmd"
                ;;
            esac
            echo "   round $r $variant: $line (ms)"
        done
    done
done

# Median and spread of the numbers in res[$1]; "fail" when any round failed.
nums() { tr ' ' '\n' <<<"${res[$1]:-}" | awk '/^[0-9]+$/'; }
med() { if [[ ${res[$1]:-} == *fail* ]]; then echo fail; else nums "$1" | median; fi; }
spread() { nums "$1" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR > 1) printf " (%d–%d)", lo, hi }'; }
cell() { local m; m=$(med "$1"); if [ "$m" = - ] || [ "$m" = fail ]; then echo "$m"; else echo "$m$(spread "$1")"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9]+$/ && b > 0) printf "%.2f×", a / b; else print "-" }'; }
# "met" or "missed by N %" for ratio $1 against target $2.
verdict() {
    awk -v r="${1%×}" -v t="$2" 'BEGIN {
        if (r !~ /^[0-9.]+$/) print "not measured"
        else if (r <= t) printf "met (%.2f× ≤ %.2f×)", r, t
        else printf "missed by %.0f %% (%.2f× > %.2f×)", (r / t - 1) * 100, r, t }'
}
{
    echo "| engine | variant | ready, ms | cmd warm, ms | warm ÷ floor | warm ÷ bare | cmd cold, ms | cold ÷ floor | status, ms | stop, ms | stop, 1 container, ms |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for engine in "${engines[@]}"; do
        bare=$(med "$engine,bare,cmd")
        floor=$(med "$engine,floor,cmd")
        for variant in "${variants[@]}"; do
            cmd=$(med "$engine,$variant,cmd")
            cold=$(med "$engine,$variant,cold")
            echo "| ${res[$engine,version]} | $variant | $(cell "$engine,$variant,ready") |" \
                "$(cell "$engine,$variant,cmd") | $(ratio "$cmd" "$floor") | $(ratio "$cmd" "$bare") |" \
                "$(cell "$engine,$variant,cold") | $(ratio "$cold" "$floor") |" \
                "$(cell "$engine,$variant,status") | $(med "$engine,$variant,stop0") |" \
                "$(med "$engine,$variant,stop1") |"
        done
    done
    echo
    echo "Medians of $ROUNDS interleaved rounds, (min–max) in parentheses; floor = containerd first," \
        "then \`dockerd --containerd\`; dind-init's default is separate. Targets (issue 15):"
    echo
    for engine in "${engines[@]}"; do
        v=${res[$engine,version]}
        floor=$(med "$engine,floor,cmd")
        line="- Docker $v, dind-init (separate) time to the command, warm, against the anchors:"
        for a in floor bare tini dumb-init catatonit; do
            line+=" ÷ $a $(ratio "$(med "$engine,separate,cmd")" "$(med "$engine,$a,cmd")"),"
        done
        echo "${line%,}"
        if [ "$engine" = bookworm ]; then
            echo "- Docker $v, ready ≤ 1.05× bare dockerd: separate" \
                "$(verdict "$(ratio "$(med "$engine,separate,ready")" "$(med "$engine,bare,ready")")" 1.05)," \
                "managed $(verdict "$(ratio "$(med "$engine,managed,ready")" "$(med "$engine,bare,ready")")" 1.05)"
        else
            echo "- Docker $v, warm start to the command ≤ 1.1× floor:" \
                "$(verdict "$(ratio "$(med "$engine,separate,cmd")" "$floor")" 1.10);" \
                "cold ≤ 1.3× floor: $(verdict "$(ratio "$(med "$engine,separate,cold")" "$floor")" 1.30)"
        fi
    done
} | tee "$report"
