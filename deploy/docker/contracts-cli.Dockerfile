# The `contracts` command with the shop's contracts (schemas/) inside: the deployments' init step
# runs it to create the topics and register the contracts before the services start.
#   docker build -f deploy/docker/contracts-cli.Dockerfile -t shop/contracts-cli .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=... -e SCHEMA_REGISTRY_URL=... shop/contracts-cli topics plan
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p contracts-cli --bin contracts && cp target/release/contracts /usr/local/bin/contracts

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /contracts --shell /usr/sbin/nologin contracts
COPY --from=build /usr/local/bin/contracts /usr/local/bin/contracts
# The manifest and every schema it names: what `topics apply` and `register` put on the cluster.
COPY schemas /contracts/schemas
USER 10001
WORKDIR /contracts
ENV CONTRACTS_MANIFEST=/contracts/schemas/contracts.toml
ENTRYPOINT ["/usr/local/bin/contracts"]
CMD ["--help"]
