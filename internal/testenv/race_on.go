//go:build race

package testenv

// Race is true under go test -race, whose shadow memory and larger stacks
// add to every goroutine and allocation of the Go side.
const Race = true
