//go:build !race

package udtgrpc_test

const raceEnabled = false
