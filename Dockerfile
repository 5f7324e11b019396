# dind-init as a tiny image that holds only the static binary.
#
# Build (online):   docker build -t dind-init .
# Use it in a devpod image (two lines):
#   COPY --from=dind-init /dind-init /usr/local/bin/dind-init
#   ENTRYPOINT ["dind-init"]
#
# Offline (no registry to pull the Rust image from): build the binary on the host
# with `cargo build --release --target x86_64-unknown-linux-musl`, then
#   docker build -f Dockerfile.prebuilt -t dind-init .
# which yields the same image.

ARG RUST_IMAGE=rust:1-bookworm

FROM ${RUST_IMAGE} AS build
# The crate has no C dependencies, so rustc's self-contained musl CRT is enough:
# no musl-tools, and the result runs on any x86_64 Linux base image.
RUN rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/dind-init /dind-init

FROM scratch
COPY --from=build /dind-init /dind-init
ENTRYPOINT ["/dind-init"]
