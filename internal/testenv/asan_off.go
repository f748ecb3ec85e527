//go:build !asan

package testenv

const ASan = false
