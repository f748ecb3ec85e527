#!/usr/bin/env bash
# host-tools.sh — install what ./build.sh docker needs where no Docker engine
# runs: podman (which builds Dockerfiles itself, so buildah's CLI is not
# needed), runc as its OCI runtime (bookworm's crun fails to start containers
# on these machines), and debootstrap for the locally made base image.
set -euo pipefail

die() {
	printf 'docker/host-tools.sh: error: %s\n' "$*" >&2
	exit 1
}

tools=(podman runc debootstrap)
missing=()
for t in "${tools[@]}"; do
	command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
((${#missing[@]} == 0)) && exit 0

command -v apt-get >/dev/null 2>&1 ||
	die "missing ${missing[*]}, and no apt-get to install them: install podman, runc and debootstrap, or run a Docker engine"
[[ $(id -u) -eq 0 ]] ||
	die "missing ${missing[*]}: run as root, or install them first: sudo apt-get install -y --no-install-recommends ${tools[*]}"
echo "docker/host-tools.sh: installing ${tools[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Listing runc makes apt take it for podman's "crun | runc"; recommends would
# bring slirp4netns, fuse-overlayfs and uidmap, which a rootful podman on the
# host network does not use.
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${tools[@]}"
for t in "${tools[@]}"; do
	command -v "$t" >/dev/null 2>&1 || die "apt-get did not install $t"
done
