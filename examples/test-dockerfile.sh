#!/usr/bin/env bash
# Offline check of the repository's Dockerfile (CI runs it through `cargo test --test examples`):
# BuildKit (Debian trixie's dockerd 26.1 and docker-buildx, unpacked by scripts/deps) builds
# it for linux/amd64 and linux/arm64 in a private dockerd. The Rust builder image cannot be
# pulled here, so RUST_IMAGE is a stand-in: busybox with a `rustup` and a `cargo` that print
# their arguments and put the host-built static binary where cargo would. Everything else is
# the real Dockerfile: the build stage on the build platform, TARGETARCH to the Rust target,
# the linker for aarch64, the copy into the final scratch stage and the image's platform.
# Needs root, busybox, unshare, cargo and .cache/trixie (scripts/deps).
# Prints "test-dockerfile: ok" at the end on success; any failure exits non-zero.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
say() { printf 'test-dockerfile: %s\n' "$*"; }
fail() { printf 'test-dockerfile: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || { echo "test-dockerfile: needs root" >&2; exit 2; }
troot=$repo/.cache/trixie/root
for p in "$troot/usr/sbin/dockerd" "$troot/usr/bin/docker" "$troot/usr/libexec/docker/cli-plugins/docker-buildx"; do
    [ -x "$p" ] || { echo "test-dockerfile: needs $p (scripts/deps unpacks it)" >&2; exit 2; }
done
for p in busybox unshare cargo; do
    command -v "$p" >/dev/null || { echo "test-dockerfile: needs $p on PATH" >&2; exit 2; }
done

# Our own mount namespace: dockerd's mounts vanish with it.
if [ "${DIND_TEST_DOCKERFILE_NS:-}" != 1 ]; then
    DIND_TEST_DOCKERFILE_NS=1 exec unshare --mount --propagation private -- bash "$0" "$@"
fi

declare -A triple=([amd64]=x86_64-unknown-linux-musl [arm64]=aarch64-unknown-linux-musl)
say "building the static binaries (amd64, arm64)"
(cd "$repo" && cargo build --quiet --release --locked --target x86_64-unknown-linux-musl &&
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
        cargo build --quiet --release --locked --target aarch64-unknown-linux-musl)

work=$(mktemp -d /tmp/dind-init-dockerfile-test.XXXXXX)
# shellcheck source=private-dockerd.sh
. "$repo/examples/private-dockerd.sh"
trap cleanup EXIT

export PATH=$troot/usr/bin:$troot/usr/sbin:$PATH
export DOCKER_HOST=unix://$work/docker.sock DOCKER_CONFIG=$work/config
mkdir -p "$DOCKER_CONFIG/cli-plugins"
ln -s "$troot/usr/libexec/docker/cli-plugins/docker-buildx" "$DOCKER_CONFIG/cli-plugins/docker-buildx"
say "starting a private dockerd $(dockerd --version | cut -d' ' -f3 | tr -d ,) in $work"
start_private_dockerd

say "importing the stand-in Rust image"
r=$work/rust
mkdir -p "$r/bin" "$r/tmp" "$r/prebuilt" "$r/usr/local/bin"
chmod 1777 "$r/tmp"
cp "$(command -v busybox)" "$r/bin/busybox"
for a in $(busybox --list); do
    [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
done
for t in "${triple[@]}"; do cp "$repo/target/$t/release/dind-init" "$r/prebuilt/$t"; done
printf '#!/bin/sh\necho "rustup $*"\n' >"$r/usr/local/bin/rustup"
cat >"$r/usr/local/bin/cargo" <<'CARGO'
#!/bin/sh
echo "cargo $* linker-aarch64=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:-unset}"
while [ $# -gt 0 ]; do [ "$1" = --target ] && t=$2; shift; done
mkdir -p "target/$t/release" && cp "/prebuilt/$t" "target/$t/release/dind-init"
CARGO
chmod 0755 "$r/usr/local/bin/rustup" "$r/usr/local/bin/cargo"
tar -C "$r" -c . | docker import -c 'ENV PATH=/usr/local/bin:/bin' - dind-init-test/rust:latest >/dev/null

for arch in amd64 arm64; do
    t=${triple[$arch]}
    log=$work/build-$arch.log
    docker buildx build --network=none --progress=plain --platform "linux/$arch" \
        --build-arg RUST_IMAGE=dind-init-test/rust:latest -t "dind-init-test/dind-init:$arch" --load "$repo" \
        >"$log" 2>&1 || { tail -30 "$log" >&2; fail "docker buildx build --platform linux/$arch failed"; }
    grep -q "rustup target add $t\$" "$log" || { cat "$log" >&2; fail "$arch: no 'rustup target add $t'"; }
    grep -q "cargo build --release --locked --target $t linker-aarch64=rust-lld\$" "$log" ||
        { cat "$log" >&2; fail "$arch: cargo was not run for $t with rust-lld as aarch64 linker"; }
    got=$(docker image inspect -f '{{.Os}}/{{.Architecture}} {{json .Config.Entrypoint}}' "dind-init-test/dind-init:$arch")
    [ "$got" = "linux/$arch [\"/dind-init\"]" ] || fail "$arch: image is $got"
    cid=$(docker create --platform "linux/$arch" "dind-init-test/dind-init:$arch")
    docker cp "$cid:/dind-init" "$work/out-$arch" >/dev/null
    docker rm "$cid" >/dev/null
    cmp -s "$work/out-$arch" "$repo/target/$t/release/dind-init" || fail "$arch: /dind-init is not the $t binary"
    say "ok: linux/$arch image holds the $t binary as /dind-init"
done
say ok
