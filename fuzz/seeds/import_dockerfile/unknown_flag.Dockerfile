FROM debian:bookworm-slim
COPY --parents a/b /c
