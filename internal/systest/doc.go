// Package systest holds the black-box suites of the udt package: tests
// that drive it only through its exported API, as a user's program would,
// often against the C++ reference peers (udt4), through an emulated lossy
// path (internal/netem), or against hand-made hostile peers, and the
// figures ./build.sh bench prints, as benchmarks.
//
// They live apart from the package's own tests so that those stay beside
// the code they test, and so that nothing here can lean on an unexported
// detail: a suite that must stays in the root package. The package has no
// code of its own, only tests; its TestMain starts the library, dispatches
// the test binary's child-process roles, and checks for leaked goroutines.
package systest
