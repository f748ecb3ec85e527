#!/usr/bin/env bash
# runtime-root.sh DIR PKG — run in the Dockerfile's build stage: build PKG as
# DIR/usr/local/bin/udt and lay out in DIR the final image's whole filesystem.
# libudt is linked statically by the module itself; libstdc++ and libgcc are
# linked statically here too (GCC's runtime exception allows it), so the
# binary loads only glibc, which is copied in as shared libraries (a static
# glibc would bring its own LGPL and NSS caveats).
set -euo pipefail

die() {
	printf 'docker/runtime-root.sh: error: %s\n' "$*" >&2
	exit 1
}

(($# == 2)) || die "usage: docker/runtime-root.sh DIR PKG"
out=$1 pkg=$2
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
[[ -d $pkg ]] || die "no package directory $pkg to build (UDT_CMD build arg)"

# cudt's #cgo LDFLAGS say -lstdc++, which links the shared library whatever
# -static-libstdc++ says; a directory holding only libstdc++.a, searched
# first, makes the same -lstdc++ pick the archive.
static=$(mktemp -d)
ln -s "$(g++ -print-file-name=libstdc++.a)" "$static/"
bin=$out/usr/local/bin/udt
mkdir -p "$out/usr/local/bin"
CGO_LDFLAGS="-L$static" go build -trimpath -ldflags '-s -w -extldflags "-static-libgcc"' -o "$bin" "$pkg"
rm -rf "$static"

libs=$(ldd "$bin") || die "ldd $bin failed: $libs"
if grep -E 'libudt|libstdc\+\+|libgcc_s|not found' <<<"$libs" >&2; then
	die "$bin must not load the libraries above at run time"
fi

# Each library at the path ldd names: the interpreter's path is written in the
# binary, and the rest sit in glibc's default search path, so no ld.so.cache
# is needed.
local_path=
while read -r a b c _; do
	if [[ $b == "=>" ]]; then local_path=$c; else local_path=$a; fi
	[[ $local_path == /* ]] || continue # linux-vdso.so.1 has no file
	mkdir -p "$out$(dirname "$local_path")"
	cp -L "$local_path" "$out$local_path"
done <<<"$libs"

mkdir -p "$out/usr/share/doc/udt" "$out/usr/share/doc/libc6" "$out/usr/share/doc/libstdc++6"
cp udt4/LICENSE-UDT.txt "$out/usr/share/doc/udt/"
cp -L /usr/share/doc/libc6/copyright "$out/usr/share/doc/libc6/"
cp -L /usr/share/doc/libstdc++6/copyright "$out/usr/share/doc/libstdc++6/"
mkdir -m 1777 "$out/tmp"

# The tree must run on its own, with nothing from this stage.
chroot "$out" /usr/local/bin/udt --help >/dev/null 2>&1 ||
	die "$bin --help fails in a chroot of $out (missing library?)"
echo "docker/runtime-root.sh: $out: $(du -sh "$out" | cut -f1), udt $(du -h "$bin" | cut -f1); loads: $(awk '$1 ~ /^\// || $3 ~ /^\// { printf "%s ", ($3 ~ /^\//) ? $3 : $1 }' <<<"$libs")"
