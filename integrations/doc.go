// Package integrations is the root of the module that joins UDT to Go's
// service stacks: gRPC (package udtgrpc) and net/http (package udthttp).
// It is a module of its own so that programs using only the udt package
// never pull gRPC and its dependencies.
//
// Neither module is published yet: a program using this one replaces both
// with a clone of the repository, github.com/udtgo/udt and
// github.com/udtgo/udt/integrations, in its own go.mod, as
// docs/services.md shows under "Add it to your module". The replace line in
// this module's go.mod serves the repository only; Go ignores it in a
// dependency.
package integrations
