# The go greeter as a newcomer writes it: one stage on the toolchain image.
FROM golang:1.22-bookworm
WORKDIR /app
COPY . .
RUN go build -o /usr/local/bin/greeter .
RUN go vet ./... && go test ./...
EXPOSE 8080
CMD ["greeter"]
