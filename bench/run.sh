#!/usr/bin/env bash
# dind-init against tini, dumb-init and catatonit, all measured in this one run:
#   a. start-and-exit overhead of `INIT /bin/true` over bare /bin/true (hyperfine medians),
#      also as PID 1 of a new pid namespace;
#   b. peak RSS (VmHWM) as PID 1 while its child sleeps;
#   c. binary size;
#   d. zombie reaping: PID 1 whose child makes ORPHANS orphans, time to completion;
#   e. signal forwarding latency: SIGUSR1 to PID 1 until the child's trap runs (median, p90;
#      the four inits run side by side and take turns);
#   f. burst drain: BURST zombies re-parented to PID 1 at once, time until all are reaped
#      (bench/burst.c; median and p90 of BURSTS runs, the inits interleaved);
#   e and f again with a CPU hog on every CPU beside them (LOADED=0 skips this).
# Ratios are dind-init ÷ other (below 1 means dind-init is better).
# Time to Docker ready is bench/docker-ready.sh (run it with BENCH_DOCKER=1 here).
#
#   sudo bench/run.sh                       # RUNS=1000 ORPHANS=5000 SIGNALS=101 BURST=2000 BURSTS=21
#   QUICK=1 bench/run.sh                    # only e and f (quiet and loaded)
#   DIND_INIT_BIN=/path/to/dind-init bench/run.sh
# Needs root (pid namespaces), hyperfine, jq, busybox, tini, dumb-init, catatonit, cc.
# Writes its report bench-init.md (machine, run, table, targets; the README's table is this
# file: bench/readme.sh --update init BENCH_OUT/bench-init.md) and the raw data to BENCH_OUT
# (default: a new dir under /tmp).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-1000}
ORPHANS=${ORPHANS:-5000}
SIGNALS=${SIGNALS:-101}
BURST=${BURST:-2000}
BURSTS=${BURSTS:-21}
QUICK=${QUICK:-0}
LOADED=${LOADED:-1}
out=${BENCH_OUT:-$(mktemp -d /tmp/dind-init-bench.XXXXXX)}
mkdir -p "$out"

[ "$(id -u)" = 0 ] || { echo "bench: needs root (unshare --pid)" >&2; exit 2; }
for p in hyperfine jq busybox tini dumb-init catatonit unshare readelf bash cc; do
    command -v "$p" >/dev/null || { echo "bench: needs $p on PATH" >&2; exit 2; }
done

bin=${DIND_INIT_BIN:-$repo/target/x86_64-unknown-linux-musl/release/dind-init}
if [ -z "${DIND_INIT_BIN:-}" ]; then
    (cd "$repo" && cargo build --quiet --release --locked --target x86_64-unknown-linux-musl)
fi
[ -x "$bin" ] || { echo "bench: no binary at $bin" >&2; exit 2; }
# dind-init warns about every DIND_* variable it does not know: that is not the bench's
# to measure (docker-ready.sh below gets $bin explicitly).
unset DIND_INIT_BIN

# dind-init as a plain init (no storage fix, no dockerd), like the others.
export DIND_START_DOCKERD=false
# tini warns on every start when it is not PID 1 unless it is a subreaper;
# dind-init and catatonit become subreapers then too, so this keeps it even.
export TINI_SUBREAPER=1

names=(dind-init tini dumb-init catatonit)
declare -A launch=(
    [dind-init]="$bin --"
    [tini]="$(command -v tini) --"
    [dumb-init]="$(command -v dumb-init)"
    [catatonit]="$(command -v catatonit) --"
)
declare -A file=(
    [dind-init]="$bin"
    [tini]="$(command -v tini)"
    [dumb-init]="$(command -v dumb-init)"
    [catatonit]="$(command -v catatonit)"
)
declare -A result

# --- machine ---------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
os=$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')
{
    echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, kernel $(uname -r), $os; load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
    echo "versions: $("$bin" --version 2>&1 | head -1); $(tini --version 2>&1 | head -1);" \
        "dumb-init $(dumb-init --version 2>&1 | head -1 | awk '{print $NF}'); $(catatonit --version 2>&1 | head -1)"
} | tee "$out/machine.txt"
load_start=$(cut -d" " -f1-3 /proc/loadavg)

ms() { awk -v s="$1" 'BEGIN { printf "%.3f", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR) printf "%.9f\n", a[int((NR + 1) / 2)] }'; }

# hyperfine the commands ROUNDS times (runs of one command are consecutive, so a
# burst of load elsewhere hits one command; rounds spread it) and print, per
# command in order, the median over rounds of hyperfine's median, in seconds.
ROUNDS=${ROUNDS:-5}
medians() { # $1 key, $2 runs per round, $3 warmup, commands...
    local key=$1 runs=$2 warmup=$3 r i
    shift 3
    for r in $(seq "$ROUNDS"); do
        hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out/$key.$r.json" "$@" \
            >"$out/$key.$r.txt" 2>&1
    done
    for i in $(seq 0 $(($# - 1))); do
        for r in $(seq "$ROUNDS"); do jq -r ".results[$i].median" "$out/$key.$r.json"; done | median
    done
}

# --- a. start-and-exit overhead ------------------------------------------------
overhead() { # $1 key, $2 prefix before each command ("" or "unshare --pid --fork")
    local key=$1 prefix=$2 cmds=("$2 /bin/true") n
    for n in "${names[@]}"; do cmds+=("$prefix ${launch[$n]} /bin/true"); done
    mapfile -t med < <(medians "$key" "$((RUNS / ROUNDS))" 50 "${cmds[@]}")
    local i=1
    for n in "${names[@]}"; do
        result[$key,$n]=$(awk -v a="${med[$i]}" -v b="${med[0]}" 'BEGIN { printf "%.9f", a - b }')
        i=$((i + 1))
    done
    result[$key,bare]=${med[0]}
}
if [ "$QUICK" != 1 ]; then
    echo "a. start-and-exit overhead ($RUNS runs each in $ROUNDS rounds)..."
    overhead overhead ""
    overhead overhead_pid1 "unshare --pid --fork"
fi

# --- b. peak RSS as PID 1 --------------------------------------------------------
# The pid of PID 1 (the child of `unshare --fork`) once it has exec'd and started
# its own child, so its memory is the init's, not unshare's.
init_pid_of() {
    local u=$1 p='' i
    for i in $(seq 500); do
        p=$(awk '{print $1}' "/proc/$u/task/$u/children" 2>/dev/null)
        if [ -n "$p" ] && [ -n "$(cat "/proc/$p/task/$p/children" 2>/dev/null)" ]; then
            echo "$p"
            return 0
        fi
        sleep 0.01
    done
    return 1
}
if [ "$QUICK" != 1 ]; then
    echo "b. peak RSS as PID 1..."
    for n in "${names[@]}"; do
        best=0
        for _ in 1 2 3; do
            # shellcheck disable=SC2086
            unshare --pid --fork --mount-proc ${launch[$n]} sleep 1 &
            u=$!
            p=$(init_pid_of "$u") || { echo "bench: $n did not start" >&2; exit 1; }
            sleep 0.3
            kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status")
            anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$p/status")
            wait "$u"
            [ "$kb" -gt "$best" ] && best=$kb && best_anon=$anon
        done
        result[rss,$n]=$best
        result[anon,$n]=$best_anon
    done
fi

# --- c. binary size ---------------------------------------------------------------
for n in "${names[@]}"; do
    result[size,$n]=$(stat -L -c %s "${file[$n]}")
    if readelf -l "${file[$n]}" | grep -q 'program interpreter'; then
        result[link,$n]=dynamic
    else
        result[link,$n]=static
    fi
done

# --- d. zombie reaping ---------------------------------------------------------------
# Each `( : & )` forks a subshell that forks `:` and exits at once: one orphan (or
# orphaned zombie) per iteration that only PID 1 can reap. At the end the script
# records how many zombies are still waiting.
cat >"$out/orphans.sh" <<EOF
i=0
while [ \$i -lt $ORPHANS ]; do ( : & ); i=\$((i + 1)); done
grep -ls '^State:.*Z' /proc/[0-9]*/status | wc -l >"$out/zombies.\$INIT_NAME"
EOF
if [ "$QUICK" != 1 ]; then
    echo "d. reaping $ORPHANS orphans..."
    cmds=()
    for n in "${names[@]}"; do
        cmds+=("env INIT_NAME=$n unshare --pid --fork --mount-proc ${launch[$n]} busybox sh $out/orphans.sh")
    done
    mapfile -t med < <(medians reap 3 1 "${cmds[@]}")
    i=0
    for n in "${names[@]}"; do
        result[reap,$n]=${med[$i]}
        result[zombies,$n]=$(tr -d ' ' <"$out/zombies.$n")
        i=$((i + 1))
    done
fi

# --- e. signal forwarding latency --------------------------------------------------------
# The child's trap appends its clock to $f on each SIGUSR1; we note the clock just
# before each kill. Both are bash's $EPOCHREALTIME, so no fork is timed.
# quantile P: the P-th quantile (nearest rank) of the numbers on stdin.
quantile() { sort -g | awk -v p="$1" '{ a[NR] = $1 } END { i = int(NR * p + 0.999999); if (i < 1) i = 1; if (NR) printf "%.9f", a[i] }'; }
# All four run at once and take turns, signal by signal, so load that comes and
# goes hits them alike.
signals() { # $1 tag: "" quiet, "_load" loaded
    local tag=$1 n f k
    declare -A u p sent lost
    for n in "${names[@]}"; do
        f=$out/sig$tag.$n
        : >"$f"
        rm -f "$f.ready"
        # shellcheck disable=SC2016,SC2086
        unshare --pid --fork --mount-proc ${launch[$n]} bash -c '
            trap "echo \$EPOCHREALTIME >>$0" USR1
            echo ready >$0.ready
            while :; do sleep 1000 & wait $!; done' "$f" 2>/dev/null &
        u[$n]=$!
        p[$n]=$(init_pid_of "${u[$n]}") || { echo "bench: $n did not start" >&2; exit 1; }
        for _ in $(seq 500); do [ -e "$f.ready" ] && break; sleep 0.01; done
        sent[$n]=
        lost[$n]=0
    done
    for k in $(seq "$SIGNALS"); do
        for n in "${names[@]}"; do
            [ "${lost[$n]}" = 0 ] || continue
            f=$out/sig$tag.$n
            sent[$n]+="$EPOCHREALTIME "
            kill -USR1 "${p[$n]}"
            for _ in $(seq 200); do [ "$(wc -l <"$f")" -ge "$k" ] && break; sleep 0.005; done
            [ "$(wc -l <"$f")" -ge "$k" ] || lost[$n]=1
            sleep 0.02
        done
    done
    for n in "${names[@]}"; do
        # SIGTERM is forwarded like SIGUSR1; bash has no trap for it and ends.
        kill -TERM "${p[$n]}" 2>/dev/null || true
        wait "${u[$n]}" 2>/dev/null || true
        f=$out/sig$tag.$n
        if [ "${lost[$n]}" = 1 ]; then
            result[signal$tag,$n]=lost
            result[signal90$tag,$n]=lost
        else
            # shellcheck disable=SC2086
            printf '%s\n' ${sent[$n]} | paste - "$f" | awk '{ print $2 - $1 }' >"$f.lat"
            result[signal$tag,$n]=$(quantile 0.5 <"$f.lat")
            result[signal90$tag,$n]=$(quantile 0.9 <"$f.lat")
        fi
    done
}

# --- f. burst drain -------------------------------------------------------------------------
# bench/burst.c as PID 1's command; the inits take turns, BURSTS rounds.
cc -O2 -o "$out/burst" "$repo/bench/burst.c"
bursts() { # $1 tag
    local tag=$1 n r
    for n in "${names[@]}"; do : >"$out/burst$tag.$n"; done
    for r in $(seq "$BURSTS"); do
        for n in "${names[@]}"; do
            # shellcheck disable=SC2086
            unshare --pid --fork --mount-proc ${launch[$n]} "$out/burst" "$BURST" >>"$out/burst$tag.$n"
        done
    done
    for n in "${names[@]}"; do
        result[burst$tag,$n]=$(quantile 0.5 <"$out/burst$tag.$n")
        result[burst90$tag,$n]=$(quantile 0.9 <"$out/burst$tag.$n")
    done
}

echo "e. signal forwarding latency ($SIGNALS signals each)..."
signals ""
echo "f. burst drain of $BURST zombies ($BURSTS rounds)..."
bursts ""
hogs=()
if [ "$LOADED" = 1 ]; then
    echo "e, f again with $(nproc) CPU hogs beside them..."
    for _ in $(seq "$(nproc)"); do
        sh -c 'while :; do :; done' &
        hogs+=("$!")
    done
    signals _load
    bursts _load
    kill "${hogs[@]}"
fi

# --- report ----------------------------------------------------------------------------------
fmt() { # $1 kind, $2 value
    case $1 in
    s) echo "$(ms "$2") ms" ;;
    kb) awk -v k="$2" 'BEGIN { printf "%.2f MiB", k / 1024 }' ;;
    bytes) awk -v b="$2" 'BEGIN { printf "%d KiB", b / 1024 }' ;;
    esac
}
row() { # $1 title, $2 key, $3 kind; a value "lost" (a signal never arrived) has no ratio
    local line n v d=${result[$2,dind-init]:-}
    [ -n "$d" ] || return 0
    if [ "$d" = lost ]; then line="| $1 | lost |"; else line="| $1 | $(fmt "$3" "$d") |"; fi
    for n in tini dumb-init catatonit; do
        v=${result[$2,$n]}
        if [ "$v" = lost ] || [ "$d" = lost ]; then
            line+=" $v |"
        else
            line+=" $(fmt "$3" "$v") ($(ratio "$d" "$v")×) |"
        fi
    done
    echo "$line"
}
verdict() { [ "$1" = 1 ] && echo "met" || echo "MISSED"; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
# vs_catatonit TITLE KEY FACTOR: is dind-init's KEY within FACTOR× catatonit's?
vs_catatonit() {
    local d=${result[$2,dind-init]} c=${result[$2,catatonit]}
    if [ "$d" = lost ] || [ "$c" = lost ]; then
        echo "- $1 ≤ $3× catatonit's: MISSED (a signal was lost)"
        return
    fi
    echo "- $1 ≤ $3× catatonit's: $(verdict "$(awk -v a="$d" -v b="$c" -v f="$3" 'BEGIN { print (a <= b * f) ? 1 : 0 }')")" \
        "($(ratio "$d" "$c")×: $(fmt s "$d") vs $(fmt s "$c"))"
}
load_end=$(cut -d" " -f1-3 /proc/loadavg)
{
    echo "- Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, kernel $(uname -r), $os; load average" \
        "$load_start at the start, $load_end at the end."
    echo "- Versions: $("$bin" --version 2>&1 | head -1) (${result[link,dind-init]} build, a plain init:" \
        "\`DIND_START_DOCKERD=false\`); $(tini --version 2>&1 | head -1);" \
        "dumb-init $(dumb-init --version 2>&1 | head -1 | awk '{print $NF}'); $(catatonit --version 2>&1 | head -1)."
    if [ "$QUICK" = 1 ]; then
        echo "- Run: \`QUICK=1 bench/run.sh\` (signals and bursts only): $SIGNALS signals and $BURSTS bursts of $BURST"
    else
        echo "- Run: \`sudo bench/run.sh\`: $RUNS runs in $ROUNDS rounds, $ORPHANS orphans; $SIGNALS signals and $BURSTS bursts of $BURST"
    fi
    if [ "$LOADED" = 1 ]; then
        echo "  zombies with the four inits taking turns, then the signals and bursts again with a CPU hog on each CPU."
    else
        echo "  zombies with the four inits taking turns."
    fi
    echo
    echo "| benchmark (dind-init ÷ other in parentheses) | dind-init | tini | dumb-init | catatonit |"
    echo "|---|---|---|---|---|"
    row "start+exit overhead over /bin/true (median)" overhead s
    row "same, as PID 1 of a new pid namespace" overhead_pid1 s
    row "peak RSS as PID 1 (VmHWM)" rss kb
    row "of which private (RssAnon)" anon kb
    row "binary size" size bytes
    line="| linkage |"
    for n in "${names[@]}"; do line+=" ${result[link,$n]} |"; done
    echo "$line"
    row "reap $ORPHANS orphans, time to completion (median)" reap s
    if [ -n "${result[zombies,dind-init]:-}" ]; then
        line="| zombies left after the last orphan |"
        for n in "${names[@]}"; do line+=" ${result[zombies,$n]} |"; done
        echo "$line"
    fi
    for tag in "" _load; do
        what=${tag:+", CPU hog beside it"}
        row "SIGUSR1 to PID 1 → child's trap (median of $SIGNALS$what)" "signal$tag" s
        row "same, p90" "signal90$tag" s
        row "burst drain of $BURST zombies (median of $BURSTS$what)" "burst$tag" s
        row "same, p90" "burst90$tag" s
    done
    echo
    if [ "$QUICK" != 1 ]; then
        echo "Bare \`/bin/true\`: $(fmt s "${result[overhead,bare]}") (exec), $(fmt s "${result[overhead_pid1,bare]}") (\`unshare --pid --fork\`)."
        echo
        echo "Targets from issue 6:"
        echo
        echo "- overhead no worse than tini: $(verdict "$(le "${result[overhead,dind-init]}" "${result[overhead,tini]}")")" \
            "($(fmt s "${result[overhead,dind-init]}") vs $(fmt s "${result[overhead,tini]}"))"
        echo "- reaping no worse than tini: $(verdict "$(le "${result[reap,dind-init]}" "${result[reap,tini]}")")" \
            "($(fmt s "${result[reap,dind-init]}") vs $(fmt s "${result[reap,tini]}"))"
        echo "- RSS ≤ 2 MiB: $(verdict "$(le "${result[rss,dind-init]}" 2048)") ($(fmt kb "${result[rss,dind-init]}"))"
        echo "- static binary ≤ 2 MiB: $(verdict "$(le "${result[size,dind-init]}" 2097152)")" \
            "($(fmt bytes "${result[size,dind-init]}"), ${result[link,dind-init]})"
    fi
    echo
    echo "Targets from issue 15:"
    echo
    for tag in "" _load; do
        what=${tag:+" (CPU hog beside it)"}
        vs_catatonit "signal latency median$what" "signal$tag" 1.1
        vs_catatonit "signal latency p90$what" "signal90$tag" 1.5
        vs_catatonit "burst drain median$what" "burst$tag" 1.2
    done
} | tee "$out/bench-init.md"
echo "report: $out/bench-init.md (bench/readme.sh --update init $out/bench-init.md); raw data: $out"

if [ "${BENCH_DOCKER:-0}" = 1 ]; then
    DIND_INIT_BIN=$bin bash "$repo/bench/docker-ready.sh"
fi
