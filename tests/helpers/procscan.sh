# Shell functions sourced by the scripts in tests/init_pid1.rs.
# They read /proc/<pid>/stat directly so the checks do not depend on procps
# and see exactly what the kernel sees (state Z = unreaped zombie).

# proc_stat PID: set P_COMM, P_STATE, P_PPID for PID; return 1 when PID is gone.
proc_stat() {
    { read -r _ps_line < "/proc/$1/stat"; } 2>/dev/null || return 1
    P_COMM=${_ps_line#*\(}
    P_COMM=${P_COMM%\)*}
    _ps_rest=${_ps_line##*\)}
    set -- $_ps_rest
    P_STATE=$1
    P_PPID=$2
}

# zombies: print how many processes are in state Z.
zombies() {
    _z=0
    for _d in /proc/[0-9]*; do
        proc_stat "${_d#/proc/}" || continue
        [ "$P_STATE" = Z ] && _z=$((_z + 1))
    done
    echo "$_z"
}

# live NAME: print how many processes named NAME are alive (not zombies).
live() {
    _n=0
    for _d in /proc/[0-9]*; do
        proc_stat "${_d#/proc/}" || continue
        [ "$P_COMM" = "$1" ] && [ "$P_STATE" != Z ] && _n=$((_n + 1))
    done
    echo "$_n"
}

# adopted NAME PARENT: print how many processes named NAME have parent PARENT.
adopted() {
    _n=0
    for _d in /proc/[0-9]*; do
        proc_stat "${_d#/proc/}" || continue
        [ "$P_COMM" = "$1" ] && [ "$P_PPID" = "$2" ] && _n=$((_n + 1))
    done
    echo "$_n"
}

# settle NAME: wait (at most ~2 s plus scan time) until no NAME process is alive and no zombie
# is left, then print "zombies=N live=M" as last seen.
settle() {
    _i=0
    while :; do
        _sz=$(zombies)
        _sl=$(live "$1")
        [ "$_sz" = 0 ] && [ "$_sl" = 0 ] && break
        [ "$_i" -ge 40 ] && break
        sleep 0.05
        _i=$((_i + 1))
    done
    echo "zombies=$_sz live=$_sl"
}

# wait_gone PID: wait (at most ~3 s) until PID has vanished from /proc (exited
# AND reaped); print "gone" or the state it is stuck in.
wait_gone() {
    _i=0
    while proc_stat "$1"; do
        if [ "$_i" -ge 60 ]; then
            echo "stuck-$P_STATE"
            return
        fi
        sleep 0.05
        _i=$((_i + 1))
    done
    echo gone
}
