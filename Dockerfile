# dind-init as a tiny image that holds only the static binary, for x86_64 and arm64.
#
# Build (online, for the machine's own architecture):
#   docker build -t dind-init .
# Both architectures at once (BuildKit sets TARGETARCH per platform; the Rust
# build runs natively and cross-compiles, no emulation needed):
#   docker buildx build --platform linux/amd64,linux/arm64 -t registry.example.com/dind-init --push .
# Use it in a devpod image (two lines):
#   COPY --from=dind-init /dind-init /usr/local/bin/dind-init
#   ENTRYPOINT ["dind-init"]
#
# Offline (no registry to pull the Rust image from): build the binary on the host
# with `cargo build --release --target x86_64-unknown-linux-musl`, then
#   docker build -f Dockerfile.prebuilt -t dind-init .
# which yields the same image (Dockerfile.prebuilt says how for arm64).

ARG RUST_IMAGE=rust:1-bookworm

FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS build
# amd64 or arm64, set by BuildKit from --platform (the machine's own by default).
# BuildKit is `docker build`'s builder since Docker 23; the classic builder
# (DOCKER_BUILDKIT=0) sets neither BUILDPLATFORM nor TARGETARCH: use
# Dockerfile.prebuilt with it.
ARG TARGETARCH
# The crate has no C dependencies, so rustc's self-contained musl CRT is enough:
# no musl-tools or cross gcc (rust-lld links aarch64), and the result runs on any
# Linux base image of that architecture.
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN case "${TARGETARCH:-amd64}" in \
      amd64) triple=x86_64-unknown-linux-musl ;; \
      arm64) triple=aarch64-unknown-linux-musl ;; \
      *) echo "TARGETARCH=$TARGETARCH: only amd64 and arm64 are built" >&2; exit 1 ;; \
    esac \
 && rustup target add "$triple" \
 && CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
    cargo build --release --locked --target "$triple" \
 && cp "target/$triple/release/dind-init" /dind-init

FROM scratch
COPY --from=build /dind-init /dind-init
ENTRYPOINT ["/dind-init"]
