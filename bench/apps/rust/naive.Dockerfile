# The rust greeter as a newcomer writes it: one stage, the whole project copied first.
FROM rust:1.82-bookworm
WORKDIR /app
COPY . .
RUN cargo build --release
RUN cargo test --release
EXPOSE 8080
CMD ["./target/release/greeter"]
