//go:build !race

package udthttp_test

const raceEnabled = false
