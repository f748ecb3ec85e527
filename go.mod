module github.com/udtgo/udt

go 1.26.0

tool github.com/golang/mock/mockgen

require (
	github.com/golang/mock v1.6.0
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.49.0
)

require (
	golang.org/x/mod v0.4.2 // indirect
	golang.org/x/tools v0.1.1 // indirect
	golang.org/x/xerrors v0.0.0-20200804184101-5ec99f83aff1 // indirect
)
