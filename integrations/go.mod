module github.com/udtgo/udt/integrations

go 1.26.0

require (
	github.com/udtgo/udt v0.0.0-00010101000000-000000000000
	google.golang.org/grpc v1.85.0
)

require (
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// Until a version of github.com/udtgo/udt is published, the require above
// names none (the zero pseudo-version Go writes for a replaced module) and
// this replace points it at the checkout. Go ignores the replace when this
// module is a dependency, so a user's go.mod replaces both modules
// (docs/services.md). go.work does not make it redundant: a workspace still
// reads the go.mod of each version required, and go mod tidy and GOWORK=off
// (./build.sh) ignore go.work.
replace github.com/udtgo/udt => ../
