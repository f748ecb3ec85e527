// Package integrations is the root of the module that joins UDT to Go's
// service stacks: gRPC (package udtgrpc) and net/http (package udthttp).
// It is a module of its own so that programs using only the udt package
// never pull gRPC and its dependencies.
package integrations
