//go:build asan

package main

// The tests run under AddressSanitizer (./build.sh asan): the shim is
// compiled with -fsanitize=address, so the binary must link ASan's runtime.
const asanEnabled = true
