//go:build asan

package udt

// asanEnabled is true under go test -asan (see asanRSS).
const asanEnabled = true
