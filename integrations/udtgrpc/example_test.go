package udtgrpc_test

import (
	"context"
	"fmt"
	"log"

	"github.com/udtgo/udt"
	"github.com/udtgo/udt/integrations/udtgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// A gRPC server on a UDT listener and a client that dials it over UDT:
// the service code is gRPC's as usual.
func Example() {
	lis, err := udtgrpc.Listen("127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	defer srv.GracefulStop()

	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		udtgrpc.WithDialer(nil))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetStatus())
	// Output: SERVING
}

// The loss-tolerant controller for a long, lossy path: set it on both
// ends, the listener's Config and the dialer's.
func ExampleWithDialer_bbr() {
	cfg := udt.Config{CongestionControl: udt.BBR(udt.BBRConfig{})}
	lis, err := udtgrpc.Listen("127.0.0.1:0", &udt.ListenConfig{Config: cfg})
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	defer srv.GracefulStop()

	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		udtgrpc.WithDialer(&udt.Dialer{Config: cfg}))
	if err != nil {
		log.Fatal(err)
	}
	defer cc.Close()
	resp, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetStatus())
	// Output: SERVING
}
