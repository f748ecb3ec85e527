//go:build !asan && !race

package udt

const underSanitizer = false
