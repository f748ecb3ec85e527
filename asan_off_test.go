//go:build !asan

package udt

const underASan = false
