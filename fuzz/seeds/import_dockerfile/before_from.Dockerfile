RUN echo before
FROM debian:bookworm-slim
