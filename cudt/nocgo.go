//go:build !cgo

package cudt

// Without cgo nothing else in this package builds, and the go command would
// say only "build constraints exclude all Go files". This file is built
// instead, and fails on purpose with an error whose name is the remedy.

var _ = udt_needs_cgo__set_CGO_ENABLED_1_and_apt_install_libudt_dev_g_plus_plus
