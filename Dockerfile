# syntax=docker/dockerfile:1
#
# The `consort` binary (package consort-homeserver) in a small runtime image: one organisation's
# node of a Consort consortium. The Helm chart in helm/consort runs this image.
#
#   docker build -t consort/consort:0.1.0 .
#
# The image runs `consort serve --config /etc/consort/homeserver.toml` as uid 10001 in /data.
# Ports: 8008 client-server API, 9090 Prometheus metrics (`metrics_listen`), 26656 consensus
# (libp2p), 26657 transaction gossip.

# Build stage. The toolchain is at least the workspace's rust-version (Cargo.toml); the image
# already has gcc and libc6-dev, which ring, aws-lc-sys and the bundled SQLite build with.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep downloaded crates and the target directory between builds (BuildKit);
# the binary is copied out of the cached target directory, which is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin consort \
    && install -m 0755 target/release/consort /usr/local/bin/consort

# Runtime stage: the binary, CA certificates (HTTPS to other organisations' nodes) and an
# unprivileged user; nothing else.
FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="consort" \
      org.opencontainers.image.description="Consort: a Matrix homeserver for consortiums, one node per organisation" \
      org.opencontainers.image.licenses="Apache-2.0"
# ca-certificates is not pinned: its Debian version changes with point releases and security
# updates, and a pin would break the build on each of them.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 consort \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /data \
       --no-create-home --shell /usr/sbin/nologin consort \
    && mkdir -p /data /etc/consort \
    && chown 10001:10001 /data
COPY --from=build /usr/local/bin/consort /usr/local/bin/consort
USER 10001
WORKDIR /data
# mimalloc returns freed memory at once instead of after a delay (homeserver/src/memory.rs).
ENV MIMALLOC_PURGE_DELAY=0
EXPOSE 8008 9090 26656 26657
# `consort serve` stops cleanly (consensus WAL flushed, block in hand finished) on SIGINT and
# SIGTERM alike; SIGINT is what it has always handled.
STOPSIGNAL SIGINT
ENTRYPOINT ["consort"]
CMD ["serve", "--config", "/etc/consort/homeserver.toml"]
