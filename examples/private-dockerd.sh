# Sourced by examples/test-image.sh and examples/test-dockerfile.sh: one private dockerd for
# an offline image test, and its cleanup. The caller defines say/fail, sets $work (a scratch
# dir) and DOCKER_HOST=unix://$work/docker.sock, and runs in its own mount namespace.
dockerd_pid=

# Stop the private dockerd by its PID, unmount what it left under $work, remove $work.
cleanup() {
    set +e
    if [ -n "$dockerd_pid" ]; then
        kill -TERM "$dockerd_pid" 2>/dev/null
        for _ in $(seq 300); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$dockerd_pid" 2>/dev/null
        wait "$dockerd_pid" 2>/dev/null
    fi
    # Leftover mounts would make rm fail; they are only in our namespace anyway.
    awk -v w="$work" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m"; done
    rm -rf "$work"
}

# Start dockerd on $work with its own daemon.json and a private /run (dockerd 20.10 would use
# any containerd serving on /run/containerd/containerd.sock, another test's), and wait until
# `docker version` answers (60 s at most).
start_private_dockerd() {
    mount -t tmpfs -o mode=755 tmpfs /run
    echo '{}' >"$work/daemon.json"
    dockerd --config-file "$work/daemon.json" --data-root "$work/data" --exec-root "$work/exec" \
        --pidfile "$work/dockerd.pid" -H "$DOCKER_HOST" --bridge=none --iptables=false --ip6tables=false \
        >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 600); do
        docker version >/dev/null 2>&1 && return 0
        kill -0 "$dockerd_pid" 2>/dev/null || { tail -20 "$work/dockerd.log" >&2; fail "dockerd died"; }
        sleep 0.1
    done
    tail -20 "$work/dockerd.log" >&2
    fail "dockerd not ready after 60 s"
}
