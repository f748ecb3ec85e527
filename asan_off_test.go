//go:build !asan

package udt

const asanEnabled = false
