#!/usr/bin/env bash
# Offline image test (CI runs it through `cargo test --test examples`):
#   1. start a private dockerd (own mount namespace, data-root, socket, exec-root);
#   2. import a busybox base image from a tar (no registry needed);
#   3. build Dockerfile.prebuilt from the static musl binary;
#   4. build examples/workspace-image/Dockerfile FROM that base with COPY --from=<dind-init image>;
#      the base ends with `USER 1000`, as codercom/enterprise-base ends with `USER coder`;
#   5. run the devpod image: dind-init is PID 1 and passes output, exit codes and
#      signals through, reaps orphans, and switches to DIND_USER;
#   6. build it again FROM a base that holds the host's Docker engine and run Docker
#      inside: overlay2 with the data on a volume, a nested container as coder.
# Needs root, dockerd/containerd/runc/docker (docker.io), busybox-static, cargo.
# Prints "test-image: ok" at the end on success; any failure exits non-zero.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'test-image: %s\n' "$*"; }
fail() { printf 'test-image: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || { echo "test-image: needs root" >&2; exit 2; }
for p in dockerd docker containerd runc busybox unshare; do
    command -v "$p" >/dev/null || { echo "test-image: needs $p on PATH" >&2; exit 2; }
done

# Our own mount namespace: dockerd's mounts vanish with it, the host sees none.
if [ "${DIND_TEST_IMAGE_NS:-}" != 1 ]; then
    DIND_TEST_IMAGE_NS=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi

bin=${DIND_INIT_BIN:-$repo/target/x86_64-unknown-linux-musl/release/dind-init}
if [ -z "${DIND_INIT_BIN:-}" ]; then
    say "building the static binary"
    (cd "$repo" && cargo build --quiet --release --locked --target x86_64-unknown-linux-musl)
fi
[ -x "$bin" ] || fail "no binary at $bin"
if readelf -l "$bin" | grep -q 'program interpreter'; then fail "$bin is not static"; fi

work=$(mktemp -d /tmp/dind-init-image-test.XXXXXX)
# shellcheck source=private-dockerd.sh
. "$repo/examples/private-dockerd.sh"
trap cleanup EXIT

export DOCKER_HOST=unix://$work/docker.sock
export DOCKER_BUILDKIT=0
say "starting a private dockerd in $work"
start_private_dockerd

say "importing a busybox base image"
base=$work/base
mkdir -p "$base/bin" "$base/usr/bin" "$base/etc" "$base/tmp" "$base/root" "$base/home"
chmod 1777 "$base/tmp"
cp "$(command -v busybox)" "$base/bin/busybox"
for a in $(busybox --list); do
    [ "$a" = busybox ] || ln -s busybox "$base/bin/$a"
done
ln -s ../../bin/busybox "$base/usr/bin/env"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$base/etc/passwd"
printf 'root:x:0:\n' >"$base/etc/group"
# USER 1000 like Coder's enterprise-base (USER coder): the Dockerfile must switch back to root.
tar -C "$base" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'USER 1000' - dind-init-test/base:latest >/dev/null

say "building Dockerfile.prebuilt"
if [ -n "${DIND_INIT_BIN:-}" ]; then
    # The Dockerfile copies from target/; give it the requested binary there.
    ctx=$work/ctx
    mkdir -p "$ctx/target/x86_64-unknown-linux-musl/release"
    cp "$repo/Dockerfile.prebuilt" "$repo/.dockerignore" "$ctx/"
    cp "$bin" "$ctx/target/x86_64-unknown-linux-musl/release/dind-init"
else
    ctx=$repo
fi
docker build --pull=false -q -f "$ctx/Dockerfile.prebuilt" -t dind-init-test/dind-init:latest "$ctx" >/dev/null

# The image must hold nothing but /dind-init: one layer with one file.
mkdir "$work/saved"
docker save dind-init-test/dind-init:latest | tar -C "$work/saved" -x
layers=$(jq -r '.[0].Layers[]' "$work/saved/manifest.json")
[ "$(echo "$layers" | wc -l)" = 1 ] || fail "dind-init image has more than one layer: $layers"
files=$(tar -tf "$work/saved/$layers")
[ "$files" = dind-init ] || fail "dind-init image holds more than /dind-init: $files"
cmp -s "$bin" <(tar -xOf "$work/saved/$layers" dind-init) || fail "/dind-init in the image differs from $bin"
say "ok: image dind-init-test/dind-init holds only /dind-init ($(stat -c %s "$bin") bytes)"

say "building examples/workspace-image/Dockerfile FROM the imported base (USER 1000)"
docker build --pull=false -q --network none \
    --build-arg BASE=dind-init-test/base:latest \
    --build-arg DIND_INIT_IMAGE=dind-init-test/dind-init:latest \
    --build-arg INSTALL_DOCKER=false \
    -t dind-init-test/devpod:latest "$repo/examples/workspace-image" >/dev/null

run() { docker run --rm --network none -e DIND_START_DOCKERD=false dind-init-test/devpod:latest "$@"; }

# Output and exit code pass through.
set +e
out=$(run sh -c 'echo hi; exit 7' 2>"$work/stderr")
code=$?
set -e
[ "$out" = hi ] || { cat "$work/stderr" >&2; fail "expected output \"hi\", got \"$out\""; }
[ "$code" = 7 ] || { cat "$work/stderr" >&2; fail "expected exit code 7, got $code"; }
say "ok: sh -c 'echo hi; exit 7' printed hi and exited 7"

# dind-init really is PID 1, and the command runs as DIND_USER=coder from the image.
comm=$(run cat /proc/1/comm)
[ "$comm" = dind-init ] || fail "PID 1 is \"$comm\", not dind-init"
pid1_uid=$(run awk '/^Uid:/ {print $2}' /proc/1/status)
[ "$pid1_uid" = 0 ] || fail "PID 1 runs as uid $pid1_uid, not root: the image must end with USER root"
who=$(run sh -c 'echo "$(id -un) $(id -u) $HOME"')
[ "$who" = "coder 1000 /home/coder" ] || fail "command runs as \"$who\", expected \"coder 1000 /home/coder\""
say "ok: PID 1 is dind-init as root; the command runs as coder (uid 1000, HOME /home/coder)"

# Orphans are reaped: 50 orphans, then count zombies left in the container.
zombies=$(run sh -c 'for i in $(seq 50); do ( sleep 0 & ); done; sleep 1;
    grep -l "^State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l')
[ "$zombies" = 0 ] || fail "$zombies zombies left after 50 orphans"
say "ok: 50 orphans reaped, no zombie left"

# docker stop sends SIGTERM to PID 1; the command must get it and its exit code 0
# must come back (not 137 from a SIGKILL after the 10 s grace).
cid=$(docker run -d --network none -e DIND_START_DOCKERD=false dind-init-test/devpod:latest \
    sh -c 'trap "echo got TERM; exit 0" TERM; echo started; sleep 1000 & wait')
for _ in $(seq 100); do docker logs "$cid" 2>/dev/null | grep -q started && break; sleep 0.1; done
docker stop -t 10 "$cid" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$cid")
logs=$(docker logs "$cid" 2>&1)
docker rm "$cid" >/dev/null
echo "$logs" | grep -q 'got TERM' || fail "the command did not get SIGTERM; logs: $logs"
[ "$code" = 0 ] || fail "after docker stop the exit code is $code, expected 0; logs: $logs"
say "ok: docker stop delivered SIGTERM to the command, exit code 0"

# The real thing: Docker inside the devpod image. The base gets the host's Docker
# engine (dockerd, containerd, shim, runc, CLI and their libraries), an offline
# stand-in for `apt-get install docker.io`. The container's own root is overlayfs,
# the seed's situation; /home/coder is a volume on /tmp (ext4), the PVC's stand-in.
say "building a base that holds Docker's engine"
eng=$work/engine
cp -a "$base" "$eng"
mkdir -p "$eng/usr/bin"
for b in dockerd containerd containerd-shim-runc-v2 runc docker; do
    src=$(command -v "$b")
    cp -L "$src" "$eng/usr/bin/$b"
    # A static binary makes ldd fail: no libraries to copy then.
    libs=$(ldd "$src" 2>/dev/null || true)
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs" |
        while read -r lib; do cp -L --parents "$lib" "$eng/"; done
done
tar -C "$eng" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'USER 1000' - dind-init-test/engine-base:latest >/dev/null
docker build --pull=false -q --network none \
    --build-arg BASE=dind-init-test/engine-base:latest \
    --build-arg DIND_INIT_IMAGE=dind-init-test/dind-init:latest \
    --build-arg INSTALL_DOCKER=false \
    -t dind-init-test/devpod-docker:latest "$repo/examples/workspace-image" >/dev/null

mkdir -p "$work/pvc"
# --privileged grants every capability; where our own bounding set lacks one (this
# Firecracker VM has no CAP_SYS_RESOURCE) runc cannot apply it. Then grant all we
# have and give what --privileged would: no seccomp/AppArmor, unmasked /proc and
# /sys, all devices, and a writable cgroup tree (here the host's, bind-mounted).
if (((0x$(awk '/^CapBnd:/ {print $2}' /proc/self/status) >> 24) & 1)); then # CAP_SYS_RESOURCE
    DIND_TEST_PRIVILEGED=--privileged
else
    DIND_TEST_PRIVILEGED="--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined
        --security-opt apparmor=unconfined --security-opt systempaths=unconfined
        --device /dev/fuse -v /sys/fs/cgroup:/sys/fs/cgroup:rw"
fi
set +e
# shellcheck disable=SC2086
out=$(docker run --rm $DIND_TEST_PRIVILEGED --network none -v "$work/pvc:/home/coder" \
    -e DIND_DATA_ROOT=/home/coder/.docker-data \
    -e DIND_DOCKERD_ARGS="--bridge=none --iptables=false --ip6tables=false" \
    -e DIND_REQUIRE_DOCKER=true \
    dind-init-test/devpod-docker:latest sh -c '
        set -e
        echo "user=$(id -un)"
        docker info --format "driver={{.Driver}}"
        tar -C / -c bin | docker import - nested >/dev/null
        docker run --rm --network none nested echo nested-ok' 2>"$work/stderr")
code=$?
set -e
if [ "$code" != 0 ]; then
    tail -30 "$work/stderr" >&2
    fail "Docker inside the devpod image failed (exit $code): $out"
fi
for want in "user=coder" "driver=overlay2" "nested-ok"; do
    grep -qx "$want" <<<"$out" || { tail -30 "$work/stderr" >&2; fail "expected \"$want\" in: $out"; }
done
# Docker's data, with the nested image, must be on the volume, not in the container.
grep -qs '"nested"' "$work/pvc/.docker-data/image/overlay2/repositories.json" ||
    fail "the nested image is not in the volume's .docker-data (data not on the PVC stand-in)"
say "ok: Docker in the devpod image: overlay2 on the volume, a nested container ran as coder"

say ok
