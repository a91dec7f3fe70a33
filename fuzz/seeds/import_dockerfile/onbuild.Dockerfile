FROM debian:bookworm-slim
ONBUILD RUN make
