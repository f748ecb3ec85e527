// Package grpcbench is the gRPC service, and the client loops, with which
// this module's tests, its loopback benchmark and the WAN lab measure gRPC
// over UDT and over TCP alike. The service is gRPC's own test service
// (google.golang.org/grpc/interop/grpc_testing), so the module carries no
// generated code; Service implements the calls it measures with.
package grpcbench

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
)

// DefaultChunk is the size of each streamed message when the request names
// none: well under gRPC's default 4 MiB limit on a received message.
const DefaultChunk = 1 << 20

// TrailerSHA256 is the trailer in which StreamingOutputCall sends the
// sha256 (hex) of all it sent, when Service.Hash is set.
const TrailerSHA256 = "x-sha256"

// Service implements the calls of grpc_testing.TestService used here.
type Service struct {
	testpb.UnimplementedTestServiceServer
	// ID is returned in SimpleResponse.ServerId when the request asks
	// (FillServerId): a client tells which server answered.
	ID string
	// Hash makes StreamingOutputCall send the sha256 of what it sent in
	// the trailer TrailerSHA256.
	Hash bool
}

// EmptyCall answers at once.
func (s *Service) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	return &testpb.Empty{}, nil
}

// UnaryCall echoes the request's payload, or answers ResponseSize bytes
// when that is set.
func (s *Service) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	resp := &testpb.SimpleResponse{Payload: req.GetPayload()}
	if n := req.GetResponseSize(); n > 0 {
		resp.Payload = &testpb.Payload{Body: make([]byte, n)}
	}
	if req.GetFillServerId() {
		resp.ServerId = s.ID
	}
	return resp, nil
}

// StreamingOutputCall sends one message of each ResponseParameters' Size,
// the bytes of Pattern for the seed in the first 8 bytes of the request's
// payload. Without ResponseParameters it sends DefaultChunk-byte messages
// until the client cancels, for goodput measured over a time.
func (s *Service) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	var seed uint64
	if b := req.GetPayload().GetBody(); len(b) >= 8 {
		seed = binary.BigEndian.Uint64(b)
	}
	var h hash.Hash
	if s.Hash {
		h = sha256.New()
	}
	params := req.GetResponseParameters()
	forever := len(params) == 0
	var off int64
	buf := make([]byte, DefaultChunk)
	for i := 0; forever || i < len(params); i++ {
		n := DefaultChunk
		if !forever {
			n = int(params[i].GetSize())
		}
		if n > len(buf) {
			buf = make([]byte, n)
		}
		b := buf[:n]
		Pattern(seed, off, b)
		off += int64(n)
		if h != nil {
			h.Write(b)
		}
		// Send copies b into its own frame buffer before it returns,
		// so buf is reused.
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: &testpb.Payload{Body: b}}); err != nil {
			return err
		}
	}
	if h != nil {
		stream.SetTrailer(metadata.Pairs(TrailerSHA256, hex.EncodeToString(h.Sum(nil))))
	}
	return nil
}

// FullDuplexCall echoes each message's payload until the client closes its
// side.
func (s *Service) FullDuplexCall(stream grpc.BidiStreamingServer[testpb.StreamingOutputCallRequest, testpb.StreamingOutputCallResponse]) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: req.GetPayload()}); err != nil {
			return err
		}
	}
}

// patternLen is not a power of two, so that chunks of one do not line up
// with it and repeat.
const patternLen = 1<<20 + 4093

var patterns sync.Map // seed -> []byte of patternLen

// Pattern fills b with the bytes at offset off of the endless stream for
// seed: a pseudo-random block of about 1 MiB, repeated. Cheap enough not to
// limit a measurement, and no run of a chunk repeats another at the same
// offset, so a misplaced chunk changes the sha256.
func Pattern(seed uint64, off int64, b []byte) {
	v, ok := patterns.Load(seed)
	if !ok {
		p := make([]byte, patternLen)
		r := rand.NewChaCha8([32]byte{0: byte(seed), 1: byte(seed >> 8), 2: byte(seed >> 16), 3: byte(seed >> 24), 4: byte(seed >> 32), 5: byte(seed >> 40), 6: byte(seed >> 48), 7: byte(seed >> 56)})
		r.Read(p)
		v, _ = patterns.LoadOrStore(seed, p)
	}
	p := v.([]byte)
	i := int(off % patternLen)
	for len(b) > 0 {
		n := copy(b, p[i:])
		b = b[n:]
		i = 0
	}
}

// StreamRequest asks StreamingOutputCall for total bytes (0: until the
// client cancels) in messages of chunk bytes (0: DefaultChunk) of the
// pattern for seed.
func StreamRequest(seed uint64, total int64, chunk int) *testpb.StreamingOutputCallRequest {
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	req := &testpb.StreamingOutputCallRequest{Payload: &testpb.Payload{Body: binary.BigEndian.AppendUint64(nil, seed)}}
	for left := total; left > 0; left -= int64(chunk) {
		req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: int32(min(left, int64(chunk)))})
	}
	return req
}

// Stream runs StreamingOutputCall with req and gives each message's
// payload to got until the stream ends or got returns false (then it
// cancels the call). It returns the trailer when the stream ended.
func Stream(ctx context.Context, c testpb.TestServiceClient, req *testpb.StreamingOutputCallRequest, got func(p []byte) bool, opts ...grpc.CallOption) (metadata.MD, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := c.StreamingOutputCall(ctx, req, opts...)
	if err != nil {
		return nil, err
	}
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return st.Trailer(), nil
		}
		if err != nil {
			return nil, err
		}
		if !got(m.GetPayload().GetBody()) {
			return nil, nil
		}
	}
}

// Latencies are the round trips of calls, in the order made.
type Latencies []time.Duration

// Quantile is the q quantile (0.5: the median), the nearest rank.
func (l Latencies) Quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Unary makes UnaryCalls one after another, each with size bytes of
// payload echoed back, until n are done (n <= 0: no limit) or d passed (d
// <= 0: no limit), and returns their round trips. A reply that is not the
// request's echo is an error.
func Unary(ctx context.Context, c testpb.TestServiceClient, n int, d time.Duration, size int, opts ...grpc.CallOption) (Latencies, error) {
	if n <= 0 && d <= 0 {
		return nil, errors.New("grpcbench: Unary needs a count or a duration")
	}
	body := make([]byte, size)
	var lat Latencies
	end := time.Now().Add(d)
	for i := 0; (n <= 0 || i < n) && (d <= 0 || time.Now().Before(end)); i++ {
		if size >= 8 {
			binary.BigEndian.PutUint64(body, uint64(i))
		}
		t := time.Now()
		resp, err := c.UnaryCall(ctx, &testpb.SimpleRequest{Payload: &testpb.Payload{Body: body}}, opts...)
		if err != nil {
			return lat, fmt.Errorf("call %d: %w", i, err)
		}
		lat = append(lat, time.Since(t))
		if got := resp.GetPayload().GetBody(); len(got) != size || string(got[:min(8, size)]) != string(body[:min(8, size)]) {
			return lat, fmt.Errorf("call %d: the reply is not the request's payload (%d bytes)", i, len(got))
		}
	}
	return lat, nil
}
