# order-service in a container: multi-stage build, runs as a non-root user.
# Build from the repository root:  docker build -f deploy/docker/order-service.Dockerfile -t shop/order-service .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p order-service --bin order-service && cp target/release/order-service /usr/local/bin/order-service

FROM debian:bookworm-slim
# curl: for the container engine's health check (GET /health).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin shop \
    && mkdir -p /data && chown shop /data
COPY --from=build /usr/local/bin/order-service /usr/local/bin/order-service
USER 10001
WORKDIR /data
ENV ORDER_LISTEN=0.0.0.0:8080 ORDER_DB=/data/order.db ORDER_ADMIN_LISTEN=0.0.0.0:50051
EXPOSE 8080
# The gRPC admin API: set ADMIN_READ_TOKEN_FILE and ADMIN_WRITE_TOKEN_FILE (and ADMIN_TLS_CERT/KEY)
# before publishing it.
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/order-service"]
