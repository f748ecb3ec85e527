// Package congestion holds the congestion controllers written in Go, as
// pure Go: no cgo, no UDT. A controller sees its connection through Conn
// and the time through Clock, so the same code runs under UDT (the udt
// package adapts its CC and Controller to these) and in a simulation in
// virtual time (package sim), where a minute of a long, lossy path takes
// a fraction of a second and repeats exactly for a seed.
package congestion
