// Package testenv is what the tests of this repository share that does not
// need the udt package itself: how the test binary was built (race
// detector, AddressSanitizer), knobs read from the environment, counters
// of the process's descriptors, threads, memory and CPU, and a throwaway
// TLS certificate.
//
// It must never import github.com/udtgo/udt: the udt package's own tests
// import it, and that would be an import cycle.
package testenv
