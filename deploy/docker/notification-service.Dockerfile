# notification-service in a container: multi-stage build, runs as a non-root user.
# Build from the repository root:  docker build -f deploy/docker/notification-service.Dockerfile -t shop/notification-service .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p notification-service --bin notification-service && cp target/release/notification-service /usr/local/bin/notification-service

FROM debian:bookworm-slim
# curl: for the container engine's health check (GET /health).
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin shop \
    && mkdir -p /data && chown shop /data
COPY --from=build /usr/local/bin/notification-service /usr/local/bin/notification-service
USER 10001
WORKDIR /data
ENV NOTIFICATION_LISTEN=0.0.0.0:8083 NOTIFICATION_DB=/data/notification.db NOTIFICATION_MAILBOX_DIR=/data/mailbox NOTIFICATION_ADMIN_LISTEN=0.0.0.0:50053
EXPOSE 8083
# The gRPC admin API: set ADMIN_READ_TOKEN_FILE and ADMIN_WRITE_TOKEN_FILE (and ADMIN_TLS_CERT/KEY)
# before publishing it.
EXPOSE 50053
ENTRYPOINT ["/usr/local/bin/notification-service"]
