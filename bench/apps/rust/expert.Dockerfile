# The rust greeter as an expert writes it by hand: manifests first (cargo fetch on a stub
# main), registry and target dirs in cache mounts, tests in the build step, the stripped
# binary alone on distroless as non-root.
FROM rust:1.82-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry,id=cargo-registry \
    mkdir -p src && echo 'fn main() {}' > src/main.rs && cargo fetch --locked
COPY src ./src
RUN --mount=type=cache,target=/usr/local/cargo/registry,id=cargo-registry \
    --mount=type=cache,target=/src/target,id=greeter-target \
    cargo test --release --locked \
 && cargo build --release --locked \
 && cp target/release/greeter /usr/local/bin/greeter

FROM gcr.io/distroless/cc-debian12 AS app
COPY --from=build /usr/local/bin/greeter /usr/local/bin/greeter
USER 65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/greeter"]
