//go:build race

package udt

// raceEnabled is true under go test -race, whose shadow memory and larger
// stacks add to every goroutine and allocation of the Go side.
const raceEnabled = true
