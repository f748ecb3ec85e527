#!/usr/bin/env bash
# build.sh — the single entry point for building, testing and demonstrating
# github.com/udtgo/udt. Run `./build.sh help` for the subcommands.
set -euo pipefail

# The pinned reference library. Keep in step with udt4.DebianVersion.
readonly UDT_PKG=libudt-dev
readonly UDT_PIN=4.11+dfsg1
readonly APT_PKGS=(libudt-dev g++ iproute2)

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
export CGO_ENABLED=1
# Each module builds from its own go.mod and go.sum, as it does for a user:
# in the workspace (go.work) a requirement missing from one module's go.mod
# can be met by another's and pass unnoticed, and the root module's tools
# would build with the other modules' newer dependencies. The workspace
# itself is checked in `test`.
export GOWORK=off

# Each line carries the time since build.sh started, so a slow step shows.
say() { printf 'build.sh [%dm%02ds]: %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
die() {
	printf 'build.sh: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	cat <<'EOF'
usage: ./build.sh <command> [args...]

commands:
  deps     install libudt-dev, g++ and iproute2 if missing (apt-get), check the libudt-dev
           pin (4.11+dfsg1) and that Go is at least go.mod's go line
  build    deps, go build ./..., build ./cmd/... and ./examples/... into bin/,
           and check that no binary needs libudt at run time
  test     deps, gofmt check, go vet, udtmock freshness, then
           go test -race -count=1 ./... [args...] (two packages at a time,
           then udt4 alone), then (without
           args) each fuzz target for 1,000 inputs (FuzzPacketSequence: 250);
           also vet and test the bench/wan and integrations modules, and check
           that go.work lists and builds all three
  fuzz     deps, then each fuzz target for FUZZTIME (default 60s) [targets...]
  demo     the main job: build, then on loopback `udt perf --loopback --vs tcp`
           and a 300 MiB file through `udt serve` / `udt get --verify`
           (DEMO_SECONDS=3, DEMO_MIB=300)
  asan     deps, a deliberate leak LeakSanitizer must catch, then the tests with
           the C++ shim under AddressSanitizer and LeakSanitizer [args...];
           asan --ci: only cudt, the root package and internal/systest,
           -short, without the long transfers (what .ci/run runs after test)
  bench    deps, Go against C++ on loopback in interleaved rounds (throughput and
           CPU-seconds per GiB of each process, median and spread), the scale runs, idle
           connections' memory and CPU next to C++ (10,000; 100,000 on 6 cores or
           more, or with UDT_BENCH_IDLE_100K=1), udt perf
           --vs tcp, udt get/serve vs upstream recvfile/sendfile (these
           figures are benchmarks run once, -benchtime 1x), then the other
           benchmarks: go test -bench . ./... [args...]
  bench-services
           deps, then on loopback gRPC over UDT vs gRPC over TCP (unary p50/p99,
           streaming goodput) beside raw UDT vs raw TCP, in one run
           (UDT_SERVICES_SECONDS=3, UDT_SERVICES_ROUNDS=3; docs/services.md)
  bench-wan [check|smoke|run|fair|services|slice] [flags...]
           as root: the WAN lab (two network namespaces joined by the user-space
           path emulator): with no argument, the emulator's fidelity check and
           the full matrix (RTT 1/50/100/200 ms x loss 0/0.1/1 %: UDT with
           native, fixed-rate and BBR control, C++ UDT, TCP BBR and CUBIC, QUIC;
           about 21 minutes), written to docs/bench-wan.{md,json,png};
           check or smoke (one path, a few seconds per contender) alone; run
           with wanbench's own flags (bin/wanbench run -h); fair: two flows
           through one 100 Mbit/s, 100 ms bottleneck (UDT+BBR twice, against
           CUBIC in both orders; TCP BBR the same; about 7 minutes), written
           to docs/bench-wan-fair.{md,json,png} (bin/wanbench fair -h);
           services: gRPC over
           UDT (native, BBR) vs gRPC over TCP (BBR, CUBIC) at 100 Mbit/s, RTT
           100 ms, loss 0/0.1/1 %, to docs/services-wan.{md,json,png};
           slice: examples/slice, 200 agents in the far namespace, 64 KiB and
           4 MiB of output each, UDT (native, BBR) vs TCP (CUBIC, BBR), RTT
           100 ms, loss 0/0.1/1 %, to docs/slice-wan.{md,json,png}
  soak     deps, the long forms of the reliability suite (about 25 minutes): both
           killed-peer directions without a deadline, 1,000 rounds of each close
           race under -race, 200 write+close rounds, 500 lossy transfers of up
           to 64 MiB, 100,000 churn cycles, the churn's peak RSS with default
           buffers (a child process); prints the figures
  docker   build the CI image udtgo/udt:dev from the Dockerfile and run
           ./build.sh test [args...] in a container of its build stage; a
           Docker engine if one answers, else podman (installed here, base
           image made locally with debootstrap; UDT_DOCKER_ENGINE=auto|docker|
           podman|podman-socket picks one)
  help     this text

Extra arguments after test, bench and docker are passed through, e.g.
  ./build.sh test -run TestSend
EOF
}

# pkg_status PKG prints "installed VERSION" or "missing". dpkg-query prints
# one line per architecture the package is known for.
pkg_status() {
	local line
	while IFS= read -r line; do
		if [[ $line == "install ok installed|"* ]]; then
			printf 'installed %s\n' "${line#*|}"
			return
		fi
	done < <(dpkg-query -W -f='${Status}|${Version}\n' "$1" 2>/dev/null || true)
	printf 'missing\n'
}

cmd_deps() {
	command -v dpkg-query >/dev/null 2>&1 ||
		die "dpkg-query not found: this script installs ${APT_PKGS[*]} with apt and needs Debian (bookworm) or a derivative"

	local missing=() p
	for p in "${APT_PKGS[@]}"; do
		[[ $(pkg_status "$p") == installed* ]] || missing+=("$p")
	done
	if ((${#missing[@]} > 0)); then
		if [[ $(id -u) -ne 0 ]]; then
			printf 'build.sh: error: missing Debian packages: %s\n' "${missing[*]}" >&2
			printf 'build.sh: run as root, or install them first:\n    sudo apt-get install -y %s\n' "${APT_PKGS[*]}" >&2
			exit 1
		fi
		say "installing ${missing[*]} (apt-get)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q "${APT_PKGS[@]}"
		for p in "${APT_PKGS[@]}"; do
			[[ $(pkg_status "$p") == installed* ]] || die "apt-get did not install $p"
		done
	fi

	local udtver gxxver
	udtver=$(pkg_status "$UDT_PKG")
	udtver=${udtver#installed }
	[[ $udtver == "$UDT_PIN" || $udtver == "$UDT_PIN"-* ]] ||
		die "$UDT_PKG version $udtver is installed, but this module is pinned to $UDT_PIN (expected $UDT_PIN or $UDT_PIN-<debian revision>)"
	[[ -f /usr/lib/libudt.a && -f /usr/include/udt/udt.h ]] ||
		die "$UDT_PKG $udtver is installed but /usr/lib/libudt.a or /usr/include/udt/udt.h is missing: reinstall it (apt-get install --reinstall $UDT_PKG)"
	gxxver=$(pkg_status g++)
	gxxver=${gxxver#installed }
	gxxver=${gxxver#*:} # drop the Debian epoch

	local want have
	want=$(awk '$1 == "go" { print $2; exit }' go.mod)
	[[ -n $want ]] || die "go.mod has no go line"
	command -v go >/dev/null 2>&1 ||
		die "go not found in PATH: install Go $want or later (https://go.dev/dl/) and put its bin directory in PATH"
	if ! have=$(go env GOVERSION 2>&1); then
		printf '%s\n' "$have" >&2
		die "go cannot run here: install Go $want or later (https://go.dev/dl/)"
	fi
	local v=${have#go}
	v=${v%%[!0-9.]*} # go1.26rc1 -> 1.26, go1.26.8 -> 1.26.8
	if [[ -z $v || $(printf '%s\n%s\n' "$want" "$v" | sort -V | head -n1) != "$want" ]]; then
		die "go reports version '$have', but go.mod needs go $want or later: install Go $want+ (https://go.dev/dl/)"
	fi

	say "deps ok: $UDT_PKG $udtver, g++ $gxxver, $have"
}

cmd_build() {
	cmd_deps
	go build ./...
	local targets=() d
	for d in cmd examples; do
		if [[ -d $d ]]; then targets+=("./$d/..."); fi
	done
	if ((${#targets[@]} == 0)); then
		say "no cmd/ or examples/ yet: nothing to put in bin/"
		return
	fi
	mkdir -p bin
	go build -o bin/ "${targets[@]}"

	local f libs bad=0 n=0
	for f in bin/*; do
		[[ -f $f && -x $f ]] || continue
		n=$((n + 1))
		# A fully static binary makes ldd fail ("not a dynamic executable").
		libs=$(ldd "$f" 2>&1 || true)
		if [[ $libs == *libudt* ]]; then
			printf 'build.sh: error: %s needs libudt at run time; it must link /usr/lib/libudt.a statically:\n' "$f" >&2
			grep libudt <<<"$libs" >&2 || true
			bad=1
		fi
	done
	((bad == 0)) || exit 1
	((n > 0)) || die "go build put no binary into bin/"
	say "built into bin/ (none needs libudt at run time):"
	for f in bin/*; do
		[[ -f $f && -x $f ]] || continue
		printf '  %-24s %s\n' "$(basename "$f")" "$(du -h "$f" | cut -f1)"
	done
}

# go_files lists the tracked and untracked, non-ignored .go files that exist,
# NUL-separated.
go_files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard -- '*.go' |
			while IFS= read -r -d '' f; do
				if [[ -f $f ]]; then printf '%s\0' "$f"; fi
			done
	else
		find . -path ./.git -prune -o -path ./bin -prune -o -name '*.go' -type f -print0
	fi
}

check_gofmt() {
	local unformatted
	unformatted=$(go_files | xargs -0 -r gofmt -l)
	if [[ -n $unformatted ]]; then
		printf 'build.sh: error: gofmt would change these files (run gofmt -w on them):\n' >&2
		sed 's/^/  /' <<<"$unformatted" >&2
		exit 1
	fi
}

GEN_TMP=
cleanup() {
	if [[ -n $GEN_TMP ]]; then rm -rf "$GEN_TMP"; fi
	if [[ -n ${PODMAN_PID:-} ]]; then kill "$PODMAN_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# check_generated runs `go generate ./...` in a temporary copy of the tree and
# fails if that changes or adds any file: udtmock/ (and anything else that is
# generated) must be checked in up to date. The working tree is not touched.
check_generated() {
	local root=$PWD
	GEN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/udt-generate.XXXXXX")
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				if [[ -e $f ]]; then printf '%s\0' "$f"; fi
			done | tar --null -T - -cf - | tar -xf - -C "$GEN_TMP"
	else
		tar --exclude=./.git --exclude=./bin -cf - . | tar -xf - -C "$GEN_TMP"
	fi
	(cd "$GEN_TMP" && go generate ./...) ||
		die "go generate ./... failed (run in a temporary copy of the tree, $GEN_TMP)"
	local stale=() f
	while IFS= read -r -d '' f; do
		f=${f#./}
		if [[ ! -f $root/$f ]]; then
			stale+=("$f (new)")
		elif ! cmp -s "$GEN_TMP/$f" "$root/$f"; then
			stale+=("$f")
		fi
	done < <(cd "$GEN_TMP" && find . -type f -print0 | sort -z)
	if ((${#stale[@]} > 0)); then
		printf 'build.sh: error: generated files are stale: run `go generate ./...` and commit the result:\n' >&2
		printf '  %s\n' "${stale[@]}" >&2
		for f in "${stale[@]}"; do
			f=${f% (new)}
			diff -u "$root/$f" "$GEN_TMP/$f" 2>/dev/null | head -n 40 >&2 || true
		done
		exit 1
	fi
	rm -rf "$GEN_TMP"
	GEN_TMP=
}

# check_workspace fails if go.work misses a module of the repository or
# lists one that is gone, or if the modules do not build together in it: a
# go line raised in one go.mod only, or replace lines that disagree, break
# the workspace while each module still builds on its own.
check_workspace() {
	local mods listed
	mods=$(find . -name go.mod -not -path './.git/*' -not -path '*/testdata/*' -printf '%h\n' | sort)
	listed=$(go work edit -json go.work | sed -n 's/^.*"DiskPath": "\(.*\)".*$/\1/p' | sort)
	[[ $mods == "$listed" ]] ||
		die "go.work lists the modules ${listed//$'\n'/ } but the repository has ${mods//$'\n'/ } (go work use -r .)"
	local patterns
	mapfile -t patterns < <(sed 's|$|/...|' <<<"$listed")
	GOWORK=$PWD/go.work go build "${patterns[@]}"
}

cmd_test() {
	local start=$SECONDS
	cmd_deps
	# A program built with -race sleeps a second before it exits (the
	# race runtime's atexit_sleep_ms), which every test binary and every
	# program the tests run and wait for would pay: a minute and a half
	# of the run. Options already in GORACE come later and win.
	export GORACE="atexit_sleep_ms=0${GORACE:+ $GORACE}"
	say "gofmt"
	check_gofmt
	say "go vet ./..."
	go vet ./...
	# The WAN bench is its own module (quic-go and the plotting packages
	# stay out of the library's): vet and test it too (its goodput counts).
	say "go vet and go test (bench/wan module)"
	(cd bench/wan && go vet ./... && go test -race -count=1 ./...)
	# The service integrations are a module of their own too (gRPC stays
	# out of the library's go.mod): gRPC and net/http over UDT, -race.
	say "go vet and go test (integrations module)"
	(cd integrations && go vet ./... && go test -race -count=1 -timeout 10m ./...)
	say "go.work: lists every module and builds them together"
	check_workspace
	say "mock freshness (go generate ./... in a temporary copy)"
	check_generated
	# Two packages at a time: the suites spend much of their time waiting
	# (UDT's timers, child processes), and one at a time took six minutes
	# of the ten. udt4 runs alone afterwards, so its run of the upstream
	# test program (fixed ports, timing races) never competes with the
	# root package's heavy transfers.
	local rc=0 pkgs
	pkgs=$(go list ./... | grep -v '/udt4$')
	say "go test -race -count=1 -p 2 -timeout 20m ./... but udt4 $*"
	# shellcheck disable=SC2086 # import paths, one word each
	go test -race -count=1 -p 2 -timeout 20m $pkgs "$@" || rc=$?
	say "go test -race -count=1 -timeout 10m ./udt4 $*"
	go test -race -count=1 -timeout 10m ./udt4 "$@" || rc=$?
	# A short fuzz of every target on top of its seeds (which the run above
	# already did under -race). Fuzzing runs without -race, which would cut
	# the inputs tried by about ten times, and with one worker, as the
	# machine is shared; a run with arguments is a targeted one and skips it.
	if ((rc == 0 && $# == 0)); then
		# A count, not a time: go test -fuzz fails with "context deadline
		# exceeded" when its time runs out while a slow input (a transfer
		# on a loaded machine) is still running.
		# FuzzPacketSequence runs a live connection per input (a minute
		# for 1,000) and CI fuzzes it again under ASan (asan --ci): 250
		# here keeps the default run within its 10 minutes.
		local others
		others=$(fuzz_targets | awk '$2 != "FuzzPacketSequence" {print $2}')
		# shellcheck disable=SC2086 # target names, one word each
		run_fuzz "${UDT_TEST_FUZZTIME:-1000x}" 1 $others || rc=$?
		run_fuzz "${UDT_TEST_FUZZTIME:-250x}" 1 FuzzPacketSequence || rc=$?
	fi
	local t=$((SECONDS - start))
	if ((rc == 0)); then
		say "test passed in $((t / 60))m$((t % 60))s"
	else
		say "test FAILED (exit $rc) after $((t / 60))m$((t % 60))s"
	fi
	return "$rc"
}

# fuzz_targets prints "package target" for every fuzz target in the module,
# read from the test files: go test -list would build and link every test
# binary for it (44 s here, and the test command asked three times).
# Folders under a go.mod of their own are other modules, left out as
# go test ./... leaves them out.
fuzz_targets() {
	local module file dir pkg target
	module=$(go list -m)
	while IFS= read -r file; do
		dir=$(dirname "${file#./}")
		if [[ $dir != . ]] && in_nested_module "$dir"; then continue; fi
		pkg=$module
		[[ $dir == . ]] || pkg=$module/$dir
		sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file" | while IFS= read -r target; do
			printf '%s %s\n' "$pkg" "$target"
		done
	done < <(grep -rl --include='*_test.go' '^func Fuzz' . | sort)
}

# in_nested_module DIR: whether DIR (relative to the root) or a folder
# above it, below the root, has a go.mod of its own.
in_nested_module() {
	local d=$1
	while [[ $d != . ]]; do
		[[ -f $d/go.mod ]] && return 0
		d=$(dirname "$d")
	done
	return 1
}

# Executions a fuzz worker may spend minimizing an input, where go test's
# default is 60 s. A worker also minimizes each input that finds new
# coverage, and a FuzzPacketSequence input runs for up to seconds (it
# waits on a live connection): one such minimization held a 1000x run
# still for a minute with both cores idle. A failing input is reported
# all the same, less shrunk.
readonly FUZZ_MINIMIZE=10x

# run_fuzz TIME WORKERS [TARGET...] fuzzes each target (all by default) for
# TIME, one go test per target, as go test -fuzz takes one at a time. New
# failing inputs land in the package's testdata/fuzz/<Target>/, where go test
# keeps running them: commit them with the fix.
run_fuzz() {
	local time=$1 workers=$2
	shift 2
	local pkg target want fail=0 n=0
	while read -r pkg target; do
		if (($# > 0)); then
			want=0
			for t in "$@"; do if [[ $t == "$target" ]]; then want=1; fi; done
			((want)) || continue
		fi
		n=$((n + 1))
		say "fuzz $pkg $target for $time"
		go test -run '^$' -fuzz "^$target\$" -fuzztime "$time" -fuzzminimizetime "$FUZZ_MINIMIZE" -parallel "$workers" "$pkg" || fail=1
	done < <(fuzz_targets)
	((n > 0)) || die "no fuzz target matched: $*"
	return "$fail"
}

cmd_fuzz() {
	cmd_deps
	local tally rc=0
	tally=$(mktemp -d)
	UDT_FUZZ_TALLY=$tally run_fuzz "${FUZZTIME:-60s}" "${FUZZ_WORKERS:-$(nproc)}" "$@" || rc=$?
	fuzz_tally "$tally"
	rm -rf "$tally"
	return "$rc"
}


DEMO_TMP= DEMO_SRV=
demo_cleanup() {
	if [[ -n $DEMO_SRV ]]; then kill "$DEMO_SRV" 2>/dev/null || true; fi
	if [[ -n $DEMO_TMP ]]; then rm -rf "$DEMO_TMP"; fi
}

# demo is the main job: the udt command on loopback, in well under a
# minute: a short perf run against TCP, then a file through serve/get with
# its sha256 checked on both ends, then a summary.
cmd_demo() {
	cmd_build
	local udt=$PWD/bin/udt size_mib=${DEMO_MIB:-300} secs=${DEMO_SECONDS:-3}
	local tmp
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/udt-demo.XXXXXX")
	DEMO_TMP=$tmp
	trap demo_cleanup EXIT

	say "1/2: udt perf --loopback --vs tcp -t $secs (UDT, then Go's TCP, on 127.0.0.1)"
	"$udt" perf --loopback --vs tcp -t "$secs" | tee "$tmp/perf.txt"

	say "2/2: a ${size_mib} MiB file through udt serve and udt get --verify"
	mkdir -p "$tmp/srv" "$tmp/dl"
	head -c "${size_mib}M" /dev/urandom >"$tmp/srv/demo.bin"
	"$udt" serve "$tmp/srv" 127.0.0.1:0 2>"$tmp/serve.log" &
	DEMO_SRV=$!
	local srv_pid=$DEMO_SRV
	local addr= i
	for i in $(seq 100); do
		addr=$(sed -n 's/.* on UDT \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$tmp/serve.log")
		[[ -n $addr ]] && break
		kill -0 "$srv_pid" 2>/dev/null || break
		sleep 0.05
	done
	[[ -n $addr ]] || die "udt serve did not start: $(cat "$tmp/serve.log")"
	(cd "$tmp/dl" && "$udt" get --verify "$addr" demo.bin) 2>&1 | tee "$tmp/get.txt"
	local src_sum dst_sum
	src_sum=$(sha256sum <"$tmp/srv/demo.bin" | cut -d' ' -f1)
	dst_sum=$(sha256sum <"$tmp/dl/demo.bin" | cut -d' ' -f1)
	[[ $src_sum == "$dst_sum" ]] || die "the file arrived with sha256 $dst_sum, not $src_sum"
	kill "$srv_pid" 2>/dev/null || true
	wait "$srv_pid" 2>/dev/null || true
	DEMO_SRV=
	sed 's/^/  /' "$tmp/serve.log"

	say "summary"
	grep '^udt vs tcp' "$tmp/perf.txt" | sed 's/^/  perf: /'
	sed -n 's/^get: [^:]*: \(.*\), sha256 \([0-9a-f]\{16\}\).*/  get:  \1, sha256 \2… checked by udt get and by sha256sum/p' "$tmp/get.txt"
}

# bench runs the benchmarks. Long soak runs (hours of transfer, many
# connections) will be added here, not to `test`.
cmd_bench() {
	cmd_deps
	# Go against C++ on loopback: every pairing of the binding and the
	# reference peers, each end its own process, in interleaved rounds
	# (UDT_BENCH_ROUNDS, default 10, of UDT_BENCH_SECONDS, default 5, each):
	# median and spread of throughput and of each process's CPU-seconds per
	# GiB, and the per-round ratios to C++ -> C++. -v: without it the
	# testing package keeps ten lines of a benchmark's log, and the summary
	# comes last.
	go test -v -count=1 -timeout 60m -run '^$' -bench '^BenchmarkThroughputInterleaved$' -benchtime 1x ./internal/systest \
		| grep -E 'bench_interleave_test|^(ok|FAIL|---)'
	# Round-trip latency of 64-byte messages: the net layer against the C++
	# library's blocking calls, in alternating rounds.
	go test -v -count=1 -timeout 30m -run '^$' -bench '^BenchmarkEchoLatencyVsReference$' -benchtime 1x ./internal/systest \
		| grep -E 'figures_test|^(ok|FAIL|---)'
	# Descriptors, threads, memory and idle CPU with 1,000 and 10,000
	# connections each way (trimmed buffers: 32 KiB each instead of 297 KiB).
	# The races and the killed peer's long forms are in soak.
	UDT_CONNS=1000 go test -count=1 -timeout 30m -run '^TestManyConnsStayFlat$' -v . | grep -E 'poller_test|^(ok|FAIL)'
	UDT_CONNS=10000 UDT_CONN_RCVBUF=46080 UDT_CONN_FC=256 go test -count=1 -timeout 30m -run '^TestManyConnsStayFlat$' -v . \
		| grep -E 'poller_test|^(ok|FAIL)'
	# Memory and idle CPU of idle connections next to a C++ program doing
	# the same (docs/memory.md): 10,000 each way with the defaults, 100,000
	# each way with the least buffers (32 packets), in child processes.
	UDT_IDLE_CONNS=10000 go test -count=1 -timeout 30m -run '^TestIdleConnsMemory$' -v . | grep -E 'memory_test|^(ok|FAIL)'
	# 200,000 sockets take about 4.6 cores of UDT's own timers (docs/memory.md):
	# on fewer cores handshakes time out and idle connections break.
	if (($(nproc) >= 6)) || [[ -n ${UDT_BENCH_IDLE_100K:-} ]]; then
		UDT_IDLE_CONNS=100000 UDT_IDLE_RCVBUF=46080 UDT_IDLE_FC=32 go test -count=1 -timeout 90m -run '^TestIdleConnsMemory$' -v . \
			| grep -E 'memory_test|^(ok|FAIL)'
	else
		say "skipped: 100,000 idle connections each way need about 5 cores of UDT's timers, this machine has $(nproc) (UDT_BENCH_IDLE_100K=1 runs it anyway)"
	fi
	# The udt command: its own loopback perf against TCP, and file downloads
	# by every pairing of udt get/serve and the upstream recvfile/sendfile.
	cmd_build
	bin/udt perf --loopback --vs tcp -t 5 | grep -E '^(udt|tcp) |vs tcp'
	go test -v -count=1 -timeout 30m -run '^$' -bench '^BenchmarkGetVsUpstream$' -benchtime 1x ./cmd/udt | grep -E 'bench_test|^(ok|FAIL)'
	# The rest of the benchmarks, less the figures: those above, and those
	# this command never ran (a whole comparison each, minutes long).
	go test -run '^$' -bench . -skip "$BENCH_FIGURES" -benchmem -count=1 -timeout 60m ./... "$@"
}

# The benchmarks that are figures: one run measures a whole comparison and
# prints it, whatever b.N (-benchtime 1x).
readonly BENCH_FIGURES='^Benchmark(ThroughputInterleaved|ThroughputVsReference|EchoLatencyVsReference|DialLatency|CloseOf64MiB|IdleCostVsReference|GetVsUpstream)$'

# bench_services prints gRPC over UDT against gRPC over TCP on loopback
# (unary p50/p99, streaming goodput) beside raw UDT against raw TCP, all
# measured in one run (integrations module, docs/services.md).
cmd_bench_services() {
	cmd_deps
	(cd integrations && UDT_SERVICES_BENCH=1 go test -count=1 -timeout 30m -run '^TestLoopbackFigures$' -v ./grpcbench) |
		grep -E '^(\||loopback|ok|FAIL|---)|loopback_test'
}

# soak runs the long forms of the reliability suite and prints their
# figures; ./build.sh test runs the same tests scaled down. UDT_SEED=N
# repeats a run's random choices (each test logs its seed).
cmd_soak() {
	cmd_deps
	local show='_test.go:|^(ok|FAIL|--- |panic)'
	say "killed peers without a deadline: how long UDT takes to notice"
	UDT_KILLED_PEER_WAIT=1 go test -count=1 -timeout 10m -run '^TestKilledPeer$' -v . | grep -E "$show"
	say "close racing Read/Write, Accept, Dial and SendFile: 1,000 rounds each, -race"
	local t
	for t in TestReadWriteCloseRace TestCloseRacesAccept TestCloseRacesDial TestCloseRacesSendFile; do
		UDT_RACE_ROUNDS=1000 go test -race -count=1 -timeout 30m -run "^$t\$" -v ./internal/systest | grep -E "$show"
	done
	say "write a large buffer and close at once: 200 rounds, -race"
	UDT_CLOSE_ROUNDS=200 go test -race -count=1 -timeout 30m -run '^TestDataWrittenBeforeCloseArrives$' -v . | grep -E "$show"
	say "500 transfers of 0 B to 64 MiB and message batches through a lossy relay"
	UDT_LOSSY_TRANSFERS=500 UDT_LOSSY_MAX=67108864 go test -count=1 -timeout 60m -run '^TestLossyTransfersArriveIntact$' -v ./internal/systest | grep -E "$show"
	say "Close after the peer was killed: after UDT gave up (about 50 s), and with a 5 s peer idle timeout"
	UDT_KILLED_PEER_WAIT=1 go test -count=1 -timeout 10m -run '^TestCloseAfterPeerKilled$' -v . | grep -E "$show"
	say "write-then-close: 2,000 rounds of dial, 4 bytes, EOF, close; at most 2 with EOF later than 50 ms"
	UDT_EOF_ROUNDS=2000 go test -count=1 -timeout 30m -run '^TestWriteThenCloseEOF$' -v . | grep -E "$show"
	say "the process exits while connections churn: 30 rounds, -race (whose exit runs C++ destructors)"
	UDT_EXIT_ROUNDS=30 go test -race -count=1 -timeout 30m -run '^TestExitWhileConnsChurn$' -v ./internal/systest | grep -E "$show"
	say "churn: 100,000 open/connect/transfer/close cycles"
	UDT_CHURN=100000 go test -count=1 -timeout 60m -run '^TestChurn$' -v ./internal/systest | grep -E "$show"
	say "churn's peak RSS: 100,000 cycles with the default buffers, in a child process (docs/memory.md)"
	UDT_MEMCHURN=100000 UDT_MEMCHURN_DEFAULTS=1 go test -count=1 -timeout 60m -run '^TestChurnPeakRSS$' -v . | grep -E "$show"
}

# asan runs the tests with the C shim (and cgo's C glue) built under
# AddressSanitizer, with LeakSanitizer on. go's -asan flag does not reach
# .cpp files, hence CGO_CXXFLAGS. libudt.a itself stays uninstrumented, but
# its new and delete go through ASan's: UDT 4.11 allocates an IPv6 peer
# address as sockaddr_in6 and deletes it as sockaddr (CUDT::~CUDT), a size
# mismatch that is harmless with glibc and not ours to fix, so that one
# check is off. A sanitizer that never fires proves nothing: a deliberate
# leak (cudt/leakcheck.go, tag udt_leakcheck) must be reported first.
cmd_asan() {
	cmd_deps
	export ASAN_OPTIONS="${ASAN_OPTIONS:-new_delete_type_mismatch=0}:detect_leaks=1"
	export CGO_CXXFLAGS="-O1 -g -fsanitize=address -fno-omit-frame-pointer"
	say "LeakSanitizer must report a deliberate leak"
	local out
	if out=$(go test -asan -tags udt_leakcheck -count=1 -run '^TestDeliberateLeak$' ./cudt 2>&1); then
		printf '%s\n' "$out" >&2
		die "the deliberate leak passed: LeakSanitizer is not running"
	fi
	if ! grep -q 'LeakSanitizer: detected memory leaks' <<<"$out"; then
		printf '%s\n' "$out" >&2
		die "the deliberate leak failed, but not with LeakSanitizer's report"
	fi
	if [[ ${1:-} == --ci ]]; then
		shift
		# The bounded pass .ci/run makes on every submission: the shim, the
		# root package and its black-box suites (internal/systest), -short,
		# without the long transfers, so a sanitizer finding turns CI red
		# within minutes.
		say "it did; now cudt, the root package and its black-box suites under ASan and LSan (-short, bounded)"
		go test -asan -count=1 -p 1 -short -timeout 15m -skip "$ASAN_CI_SKIP" ./cudt . ./internal/systest "$@"
		asan_fuzz_packets "${UDT_ASAN_FUZZ:-500x}"
		return
	fi
	say "it did; now the suite under ASan and LSan"
	go test -asan -count=1 -p 1 -timeout 20m ./... "$@"
	asan_fuzz_packets "${UDT_ASAN_FUZZ:-5000x}"
}

# asan_fuzz_packets TIME fuzzes the firewall (FuzzPacketSequence: crafted
# packet sequences to live connections) with the shim under ASan, and says
# how many packets and inputs its processes sent.
asan_fuzz_packets() {
	local tally
	tally=$(mktemp -d)
	say "the packet-sequence fuzzer under ASan for $1"
	UDT_FUZZ_TALLY=$tally go test -asan -run '^$' -fuzz '^FuzzPacketSequence$' -fuzztime "$1" -fuzzminimizetime "$FUZZ_MINIMIZE" ./internal/systest || {
		rm -rf "$tally"
		return 1
	}
	fuzz_tally "$tally"
	rm -rf "$tally"
}

# fuzz_tally DIR adds up the packet and input counts FuzzPacketSequence's
# processes wrote there (UDT_FUZZ_TALLY).
fuzz_tally() {
	cat "$1"/* 2>/dev/null | awk '{p += $1; n += $2} END {printf "build.sh: FuzzPacketSequence sent %d packets in %d inputs (each process counted every 100 inputs)\n", p, n}'
}

# The long transfers and soak-sized tests the bounded ASan pass leaves out.
readonly ASAN_CI_SKIP='^(TestStream256MiBBothWays|TestChurn|TestManyConnsStayFlat|TestLossyTransfersArriveIntact|TestSendFileRecvFile64MiBAtOffset|TestKilledPeer)$'


# bench_wan_can_run says why the WAN lab cannot run here, if it cannot.
bench_wan_can_run() {
	[[ $(id -u) -eq 0 ]] ||
		die "bench-wan needs root: it creates network namespaces and TUN devices (run it as root, e.g. sudo ./build.sh bench-wan)"
	[[ -c /dev/net/tun ]] ||
		die "bench-wan needs /dev/net/tun (modprobe tun; in a container, pass the device and CAP_NET_ADMIN)"
	command -v ip >/dev/null 2>&1 ||
		die "bench-wan needs iproute2's ip (apt-get install iproute2, or ./build.sh deps)"
}

cmd_bench_wan() {
	cmd_deps
	bench_wan_can_run
	mkdir -p bin docs
	say "building bin/udt, bin/slice and bin/wanbench (module bench/wan)"
	go build -o bin/udt ./cmd/udt
	go build -o bin/slice ./examples/slice
	(cd bench/wan && go build -o ../../bin/wanbench .)
	local what=${1:-all}
	if (($# > 0)); then shift; fi
	case $what in
	check) bin/wanbench check "$@" ;;
	smoke) bin/wanbench smoke "$@" ;;
	run) bin/wanbench run "$@" ;;
	fair)
		# Two flows through one 100 Mbit/s, 100 ms bottleneck: UDT+BBR
		# against itself and against CUBIC (in both start orders), TCP BBR
		# the same (about 7 minutes).
		bin/wanbench fair -json docs/bench-wan-fair.json -png docs/bench-wan-fair.png -md docs/bench-wan-fair.md "$@"
		say "wrote docs/bench-wan-fair.md, docs/bench-wan-fair.json and docs/bench-wan-fair.png"
		;;
	services)
		# gRPC over UDT (native, udt.BBR) vs over TCP (BBR, CUBIC) on
		# 100 Mbit/s, RTT 100 ms, loss 0/0.1/1 % (about 5 minutes).
		bin/wanbench services -json docs/services-wan.json -png docs/services-wan.png -md docs/services-wan.md "$@"
		say "wrote the report (docs/services-wan.{md,json,png} unless -md, -json or -png said otherwise)"
		;;
	slice)
		# examples/slice: 200 agents in the far namespace, the controller
		# gathers 64 KiB and 4 MiB from each; UDT (native, udt.BBR) vs TCP
		# (CUBIC, BBR); 100 ms, loss 0/0.1/1 % (about 25 minutes).
		bin/wanbench slice -json docs/slice-wan.json -png docs/slice-wan.png -md docs/slice-wan.md "$@"
		say "wrote the report (docs/slice-wan.{md,json,png} unless -md, -json or -png said otherwise)"
		;;
	all)
		bin/wanbench check -json docs/bench-wan-fidelity.json | tee docs/bench-wan-fidelity.md
		bin/wanbench run -json docs/bench-wan.json -png docs/bench-wan.png -md docs/bench-wan.md "$@"
		say "wrote docs/bench-wan.md, docs/bench-wan.json, docs/bench-wan.png and docs/bench-wan-fidelity.{md,json}"
		;;
	*) die "bench-wan: unknown form '$what' (check, smoke, run, fair, services, slice, or nothing for all)" ;;
	esac
}

# docker builds the CI image udtgo/udt:dev from the Dockerfile and runs
# ./build.sh test [args...] in a container of its build stage (udtgo/udt:build),
# on the host network. The engine (UDT_DOCKER_ENGINE):
#   auto           a Docker engine if `docker info` answers, else podman
#   docker         the docker CLI and whatever engine it talks to
#   podman         podman, daemonless (the default where no engine answers)
#   podman-socket  the docker CLI talking to `podman system service` on a
#                  private socket, started here and stopped at the end
# With podman, docker/ supplies the rest: host-tools.sh installs podman, runc
# and debootstrap, base-images.sh makes the build stage's base image locally
# (nothing is pulled from an image registry), and containers.conf carries the
# settings these machines need. UDT_DOCKER_RUN_FLAGS adds flags to the test
# container (e.g. --privileged for tests that need network namespaces).
PODMAN_PID=

# engine_run ENGINE... -- RUNARGS... runs a container and returns its exit
# code. It does not use --rm: the docker CLI talking to podman 4.3's service
# gets exit code 0 from a --rm container whatever it exited with (podman
# issue 18889, fixed in 4.6; bookworm has 4.3.1).
engine_run() {
	local -a e=()
	while [[ $1 != -- ]]; do
		e+=("$1")
		shift
	done
	shift
	local name=udt-docker-$$-$RANDOM rc=0
	"${e[@]}" run --name "$name" "$@" || rc=$?
	"${e[@]}" rm -f "$name" >/dev/null 2>&1 || true
	return "$rc"
}

cmd_docker() {
	local start=$SECONDS mode=${UDT_DOCKER_ENGINE:-auto}
	local img=udtgo/udt:dev buildimg=udtgo/udt:build
	local -a eng build_flags=() run_flags
	read -r -a run_flags <<<"${UDT_DOCKER_RUN_FLAGS:-}"

	if [[ $mode == auto ]]; then
		mode=podman
		if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then mode=docker; fi
	fi
	case $mode in
	docker)
		command -v docker >/dev/null 2>&1 || die "UDT_DOCKER_ENGINE=docker, but there is no docker CLI"
		docker info >/dev/null 2>&1 || die "UDT_DOCKER_ENGINE=docker, but no engine answers docker info"
		# A real engine builds on its default network: BuildKit would want
		# the network.host entitlement for --network=host.
		eng=(docker)
		say "engine: docker CLI -> $(docker version -f '{{.Server.Platform.Name}} {{.Server.Version}}' 2>/dev/null || echo 'an engine')"
		;;
	podman | podman-socket)
		# Rootless podman would need subuid ranges and slirp4netns, and
		# debootstrap needs root anyway.
		[[ $(id -u) -eq 0 ]] ||
			die "no Docker engine answers docker info, and the podman path (rootful podman, debootstrap) needs root: run ./build.sh docker as root"
		docker/host-tools.sh
		export CONTAINERS_CONF=$PWD/docker/containers.conf
		local go_image
		go_image=$(sed -n 's/^ARG GO_IMAGE=//p' Dockerfile)
		[[ -n $go_image ]] || die "Dockerfile has no 'ARG GO_IMAGE=' line naming the build stage's base image"
		docker/base-images.sh "$go_image"
		if [[ $mode == podman ]]; then
			eng=(podman)
			build_flags=(--pull=never --network=host)
			say "engine: podman $(podman version -f '{{.Client.Version}}'), daemonless (no Docker engine answered docker info)"
		else
			command -v docker >/dev/null 2>&1 || die "UDT_DOCKER_ENGINE=podman-socket needs the docker CLI"
			local sock
			sock=$(mktemp -u "${TMPDIR:-/tmp}/udt-podman.XXXXXX.sock")
			podman system service --time=0 "unix://$sock" &
			PODMAN_PID=$!
			local i
			for ((i = 0; i < 100; i++)); do
				[[ -S $sock ]] && break
				sleep 0.1
			done
			[[ -S $sock ]] || die "podman system service did not create $sock within 10 s"
			export DOCKER_HOST=unix://$sock
			# The docker CLI's BuildKit needs an engine that speaks its
			# protocol; podman's compatibility API runs the classic build.
			export DOCKER_BUILDKIT=0
			build_flags=(--network=host)
			eng=(docker)
			say "engine: docker CLI -> podman system service ($(docker version -f '{{.Server.Version}}') at $sock)"
		fi
		;;
	*) die "UDT_DOCKER_ENGINE must be auto, docker, podman or podman-socket, not '$mode'" ;;
	esac

	local t0=$SECONDS
	say "building $buildimg (the build stage, without tests)"
	"${eng[@]}" build "${build_flags[@]}" --target build --build-arg RUN_TESTS=0 -t "$buildimg" .
	local tb=$((SECONDS - t0))
	t0=$SECONDS
	say "./build.sh test${*:+ $*} in a container of $buildimg"
	# The upstream test program of udt4's tests uses the fixed port 9000 and
	# takes a flock on a file in the temp dir to share it machine-wide; on the
	# host network the container must take the host's lock, not its own.
	local lock=${TMPDIR:-/tmp}/udt4-test-port-9000.lock
	{ touch "$lock" && chmod 0666 "$lock"; } || die "cannot create $lock, the lock for port 9000 shared with the container"
	# Go's build cache lives in a named volume, so a second run compiles only
	# what changed; -count=1 still runs every test.
	engine_run "${eng[@]}" -- --network=host -v "$lock:/tmp/udt4-test-port-9000.lock" \
		-v udt-go-build-cache:/root/.cache/go-build "${run_flags[@]}" \
		"$buildimg" ./build.sh test "$@" ||
		die "./build.sh test failed in the container (output above)"
	local tt=$((SECONDS - t0))
	t0=$SECONDS
	say "building $img (the final stage)"
	"${eng[@]}" build "${build_flags[@]}" --build-arg RUN_TESTS=0 -t "$img" .
	local tf=$((SECONDS - t0))

	# The final image must run udt on its own and hold no libudt.
	local files
	engine_run "${eng[@]}" -- --network=host "$img" --help >/dev/null 2>&1 ||
		die "udt --help fails in $img"
	local perf
	perf=$(engine_run "${eng[@]}" -- --network=host "$img" perf --loopback -t 2 2>&1) || {
		printf '%s\n' "$perf" >&2
		die "udt perf --loopback -t 2 fails in $img (output above)"
	}
	local ctr
	ctr=$("${eng[@]}" create "$img")
	files=$("${eng[@]}" export "$ctr" | tar -tf -) || files=
	"${eng[@]}" rm "$ctr" >/dev/null
	[[ -n $files ]] || die "could not list the files of $img"
	if grep -i libudt <<<"$files" >&2; then die "$img holds libudt (above): udt must link it statically"; fi

	local sb sf
	sb=$("${eng[@]}" image inspect -f '{{.Size}}' "$buildimg")
	sf=$("${eng[@]}" image inspect -f '{{.Size}}' "$img")
	say "$img: udt --help runs, no libudt among its $(grep -vc '/$' <<<"$files") files; udt perf --loopback -t 2 in it:"
	grep -E '^udt +(sender|receiver)' <<<"$perf" | sed 's/^/    /' || true
	say "sizes: $buildimg $(awk -v b="$sb" 'BEGIN { printf "%.0f", b / 1e6 }') MB, $img $(awk -v b="$sf" 'BEGIN { printf "%.1f", b / 1e6 }') MB"
	say "times: build stage ${tb}s, tests ${tt}s, final image ${tf}s, total $((SECONDS - start))s (engine: $mode)"
}

main() {
	local cmd=${1:-help}
	if (($# > 0)); then shift; fi
	case "$cmd" in
	deps) cmd_deps ;;
	build) cmd_build ;;
	test) cmd_test "$@" ;;
	fuzz) cmd_fuzz "$@" ;;
	demo) cmd_demo ;;
	bench) cmd_bench "$@" ;;
	bench-services) cmd_bench_services ;;
	soak) cmd_soak ;;
	asan) cmd_asan "$@" ;;
	bench-wan) cmd_bench_wan "$@" ;;
	docker) cmd_docker "$@" ;;
	help | -h | --help) usage ;;
	*)
		printf 'build.sh: unknown command %q\n\n' "$cmd" >&2
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
