# CI image: Debian bookworm + Go + libudt-dev; building it runs the tests.
# build.sh is the single source of truth for dependencies and checks.
# The Go version matches the go line of go.mod.
FROM golang:1.26-bookworm
WORKDIR /src
COPY . .
RUN ./build.sh deps
RUN ./build.sh test
