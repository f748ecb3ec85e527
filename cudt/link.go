package cudt

// The link line for the pinned reference library. It must equal
// udt4.LDFlags, which is the one place that describes the library; a cgo
// directive can only live in a package that imports "C", so it is repeated
// here and TestLinkFlagsMatchPin keeps the two in step.

/*
#cgo LDFLAGS: /usr/lib/libudt.a -lstdc++ -lpthread -lm
*/
import "C"
