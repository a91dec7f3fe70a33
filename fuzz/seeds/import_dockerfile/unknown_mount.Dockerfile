FROM debian:bookworm-slim
RUN --mount=type=nfs,target=/x true
