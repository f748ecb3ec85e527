# CI image of github.com/udtgo/udt. ./build.sh docker builds it and runs the
# tests in it; see docs/docker.md.
#
# build: Debian bookworm + Go + g++ + libudt-dev (installed by ./build.sh deps,
#        the one place that knows the pin); runs ./build.sh test unless built
#        with --build-arg RUN_TESTS=0, then builds udt.
# final: FROM scratch: udt with libudt and the C++ runtime linked in, the glibc
#        it loads, and the licenses that must ship with it.
#
# The Go version in GO_IMAGE is go.mod's go line; docker/base-images.sh makes
# this image locally where it cannot be pulled, and checks that they agree.
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
# As in build.sh: udt builds from the root go.mod alone. In go.work's
# workspace it would need the other modules' dependency graphs too, which
# nothing downloads here with RUN_TESTS=0.
ENV GOWORK=off
# Dependencies first, so a source change does not reinstall them. Recommends
# are off: libc6-dev's would bring libgd3 with X, font and video libraries.
COPY build.sh go.mod go.sum ./
# The .debs and package lists (220 MB) are not needed once installed.
RUN echo 'APT::Install-Recommends "false";' >/etc/apt/apt.conf.d/90no-recommends \
	&& ./build.sh deps && apt-get clean && rm -rf /var/lib/apt/lists/* \
	&& go mod download
COPY . .
ARG RUN_TESTS=1
RUN if [ "$RUN_TESTS" = 0 ]; then echo "RUN_TESTS=0: ./build.sh test skipped"; else ./build.sh test; fi
# The package built as /usr/local/bin/udt.
ARG UDT_CMD=./cmd/udt
RUN docker/runtime-root.sh /out/root "$UDT_CMD" && go clean -cache

FROM scratch
COPY --from=build /out/root/ /
ENTRYPOINT ["/usr/local/bin/udt"]
CMD ["--help"]
