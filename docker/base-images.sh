#!/usr/bin/env bash
# base-images.sh IMAGE — make the Dockerfile's build-stage base image (e.g.
# golang:1.26-bookworm) in podman's local storage, for machines that cannot
# pull it: a Debian bookworm rootfs made by debootstrap from Debian's mirror,
# imported with `podman import`, plus this machine's own Go toolchain, which
# must be at the version the image tag and go.mod name. Nothing is pulled from
# any image registry. The rootfs tarball is cached under $UDT_DOCKER_CACHE
# (default /var/cache/udt-docker), and an image already made is kept.
set -euo pipefail

say() { printf 'docker/base-images.sh: %s\n' "$*"; }
die() {
	printf 'docker/base-images.sh: error: %s\n' "$*" >&2
	exit 1
}

(($# == 1)) || die "usage: docker/base-images.sh IMAGE (golang:<go version>-bookworm)"
image=$1
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

cache=${UDT_DOCKER_CACHE:-/var/cache/udt-docker}
mirror=${UDT_DEBIAN_MIRROR:-http://deb.debian.org/debian}

[[ $image =~ ^(docker\.io/(library/)?)?golang:([0-9]+\.[0-9]+)-bookworm$ ]] ||
	die "can only make golang:<go version>-bookworm images, not '$image' (the Dockerfile's GO_IMAGE)"
tagver=${BASH_REMATCH[3]}
fq=docker.io/library/golang:$tagver-bookworm

modver=$(awk '$1 == "go" { print $2; exit }' go.mod)
[[ $modver == "$tagver" || $modver == "$tagver".* ]] ||
	die "the Dockerfile's base image is $image but go.mod says go $modver: make them agree"

command -v go >/dev/null 2>&1 || die "go not found in PATH: its toolchain is copied into $fq"
goroot=$(go env GOROOT)
gover=$(go env GOVERSION) # go1.26.8
[[ $gover == "go$tagver" || $gover == "go$tagver".* ]] ||
	die "this machine's Go is $gover ($goroot), but $image needs Go $tagver: install Go $tagver.x and put it first in PATH"

if podman image exists "$fq"; then
	have=$(podman image inspect --format '{{index .Labels "org.udtgo.go"}}' "$fq" 2>/dev/null || true)
	if [[ $have == "$gover" ]]; then
		say "$fq already made locally ($gover)"
		exit 0
	fi
	[[ -n $have ]] || die "$fq exists and was not made by this script (no org.udtgo.go label): remove it (podman rmi $fq) or use it as it is"
	say "$fq holds $have, this machine has $gover: making it again"
fi

mkdir -p "$cache"
rootfs_tar=$cache/bookworm-minbase.tar
if [[ ! -s $rootfs_tar ]]; then
	command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found (apt-get install debootstrap)"
	work=$(mktemp -d "$cache/rootfs.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	say "debootstrap bookworm (minbase) from $mirror into $work"
	# ca-certificates: the build fetches Go modules over HTTPS.
	debootstrap --variant=minbase --include=ca-certificates bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
		tail -n 20 "$work/debootstrap.log" >&2
		die "debootstrap failed (log above; full log in $work/debootstrap.log)"
	}
	# The suites an official Debian image has, so apt-get sees point-release
	# and security updates.
	cat >"$work/root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
	rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
	tar -C "$work/root" --numeric-owner -cf "$work/rootfs.tar" .
	mv "$work/rootfs.tar" "$rootfs_tar"
	rm -rf "$work"
	trap - EXIT
	say "cached $rootfs_tar ($(du -h "$rootfs_tar" | cut -f1))"
else
	say "using cached $rootfs_tar"
fi

rootimg=localhost/udt-bookworm-rootfs:latest
podman import --quiet "$rootfs_tar" "$rootimg" >/dev/null
# Copy the toolchain in from a read-only mount rather than through a build
# context, which would mean copying 270 MB into a temporary folder first.
ctr=udt-make-golang-$$
podman rm -f "$ctr" >/dev/null 2>&1 || true
# The machine's CA bundle replaces the image's: where HTTPS goes through a
# proxy that this machine trusts (as here), `go mod download` in the build
# must trust it too.
cas=()
if [[ -s /etc/ssl/certs/ca-certificates.crt ]]; then
	cas=(-v /etc/ssl/certs/ca-certificates.crt:/mnt/ca.crt:ro)
fi
podman run --name "$ctr" --pull=never -v "$goroot:/mnt/go:ro" "${cas[@]}" "$rootimg" \
	sh -c 'cp -a /mnt/go /usr/local/go && mkdir -p /go/bin /go/src && chmod -R 1777 /go &&
		if [ -f /mnt/ca.crt ]; then cp /mnt/ca.crt /etc/ssl/certs/ca-certificates.crt; fi' ||
	die "copying $goroot into the image failed"
# The environment of the official golang image, which the Dockerfile expects.
podman commit --quiet \
	--change "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	--change "ENV GOLANG_VERSION=${gover#go}" \
	--change "ENV GOPATH=/go" \
	--change "ENV GOTOOLCHAIN=local" \
	--change "WORKDIR /go" \
	--change "CMD [\"bash\"]" \
	--change "LABEL org.udtgo.go=$gover" \
	"$ctr" "$fq" >/dev/null
podman rm "$ctr" >/dev/null
podman rmi "$rootimg" >/dev/null 2>&1 || true
say "made $fq locally: debootstrap'd bookworm + $gover from $goroot ($(podman image inspect --format '{{.Size}}' "$fq" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
