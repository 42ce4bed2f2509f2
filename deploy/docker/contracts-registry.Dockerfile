# contracts-registry in a container: multi-stage build, runs as a non-root user.
# Build from the repository root:  docker build -f deploy/docker/contracts-registry.Dockerfile -t shop/contracts-registry .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p contracts-registry --bin contracts-registry && cp target/release/contracts-registry /usr/local/bin/contracts-registry

FROM debian:bookworm-slim
# curl: for the container engine's health check (GET /health).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin shop \
    && mkdir -p /data && chown shop /data
COPY --from=build /usr/local/bin/contracts-registry /usr/local/bin/contracts-registry
USER 10001
WORKDIR /data
ENV REGISTRY_LISTEN=0.0.0.0:8081
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/contracts-registry"]
