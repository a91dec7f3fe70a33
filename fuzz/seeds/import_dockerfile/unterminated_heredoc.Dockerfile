FROM debian:bookworm-slim
RUN <<EOF
echo hi
