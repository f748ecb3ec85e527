module github.com/udtgo/udt/bench/wan

go 1.26.0

require (
	github.com/quic-go/quic-go v0.65.0
	github.com/udtgo/udt v0.0.0-00010101000000-000000000000
	github.com/udtgo/udt/integrations v0.0.0-00010101000000-000000000000
	gonum.org/v1/plot v0.17.0
	google.golang.org/grpc v1.85.0
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// Neither module is published yet: as in integrations/go.mod, the requires
// above name no version and these replaces point them at the checkout, for
// go mod tidy and GOWORK=off (./build.sh) as well as the workspace.
replace (
	github.com/udtgo/udt => ../..
	github.com/udtgo/udt/integrations => ../../integrations
)
