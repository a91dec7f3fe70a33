# The go greeter as an expert writes it by hand: go.mod first (module download in its own
# layer), build and module caches in cache mounts, vet + test in the build step, a static
# binary alone on scratch as nobody.
FROM golang:1.22-bookworm AS build
WORKDIR /src
COPY go.mod ./
RUN --mount=type=cache,target=/go/pkg/mod,id=go-mod \
    go mod download
COPY *.go ./
RUN --mount=type=cache,target=/go/pkg/mod,id=go-mod \
    --mount=type=cache,target=/root/.cache/go-build,id=go-build \
    go vet ./... \
 && go test ./... \
 && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/greeter .

FROM scratch AS app
COPY --from=build /out/greeter /greeter
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/greeter"]
