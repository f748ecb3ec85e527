//go:build asan

package testenv

// ASan is true under go test -asan (./build.sh asan): the shim is built
// with -fsanitize=address, so memory figures grow by ASan's shadow and
// redzones, and a child binary must link ASan's runtime too.
const ASan = true
