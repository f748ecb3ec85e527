//go:build !race

package udt

const raceEnabled = false
