package xfer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// upstreamRequest is a request as the upstream recvfile writes it.
func upstreamRequest(name string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(name)))
	return append(b, name...)
}

func TestRequestRoundTrip(t *testing.T) {
	for _, r := range []Request{
		{Name: "a"},
		{Name: "dir/file.bin"},
		{Name: strings.Repeat("x", MaxRequest)},
		{Name: "big.iso", Ext: true, Flags: FlagResume | FlagDigest, Offset: 1 << 40, Nonce: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{Name: "f", Ext: true, Flags: FlagDigest},
		{Name: strings.Repeat("y", MaxRequest-extLen), Ext: true},
	} {
		var buf bytes.Buffer
		if err := WriteRequest(&buf, r); err != nil {
			t.Fatalf("WriteRequest(%.20q…): %v", r.Name, err)
		}
		if !r.Ext && !bytes.Equal(buf.Bytes(), upstreamRequest(r.Name)) {
			t.Fatalf("a plain request is not the upstream bytes: % x", buf.Bytes()[:8])
		}
		got, err := ReadRequest(&buf)
		if err != nil {
			t.Fatalf("ReadRequest(%.20q…): %v", r.Name, err)
		}
		if got != r {
			t.Fatalf("round trip: got %+v, want %+v", got, r)
		}
		if buf.Len() != 0 {
			t.Fatalf("ReadRequest left %d bytes", buf.Len())
		}
	}
}

// The extension must stay invisible to the upstream server, which opens
// the name field as a C string.
func TestExtensionEndsAtNUL(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteRequest(&buf, Request{Name: "movie.mkv", Ext: true, Flags: FlagResume, Offset: 7}); err != nil {
		t.Fatal(err)
	}
	field := buf.Bytes()[4:]
	if n := binary.LittleEndian.Uint32(buf.Bytes()); int(n) != len(field) || n > MaxRequest {
		t.Fatalf("length %d for a %d-byte field", n, len(field))
	}
	if c, _, _ := bytes.Cut(field, []byte{0}); string(c) != "movie.mkv" {
		t.Fatalf("the C string in the field is %q", c)
	}
}

func TestBadRequests(t *testing.T) {
	ext := func(mut func(b []byte) []byte) []byte {
		var buf bytes.Buffer
		if err := WriteRequest(&buf, Request{Name: "f", Ext: true, Flags: FlagResume, Offset: 5}); err != nil {
			t.Fatal(err)
		}
		field := mut(bytes.Clone(buf.Bytes()[4:]))
		return append(binary.LittleEndian.AppendUint32(nil, uint32(len(field))), field...)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty stream", nil, "reading the name length"},
		{"short length", []byte{1, 0}, "reading the name length"},
		{"zero length", upstreamRequest(""), "bad name length: 0"},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xff}, "bad name length: -1"},
		{"huge length", []byte{0, 0, 0, 0x7f}, "bad name length: 2130706432"},
		{"one too long", binary.LittleEndian.AppendUint32(nil, MaxRequest+1), "bad name length: 1024"},
		{"name cut short", append(binary.LittleEndian.AppendUint32(nil, 10), "abc"...), "reading the 10-byte name"},
		{"NUL then junk", upstreamRequest("a\x00../../etc/passwd"), "has a NUL byte"},
		{"NUL first", upstreamRequest("\x00"), "has a NUL byte"},
		{"unknown flags", ext(func(b []byte) []byte { b[2+len(extMagic)] = 0x80; return b }), "unknown request flags"},
		{"offset without resume", ext(func(b []byte) []byte { b[2+len(extMagic)] = FlagDigest; return b }), "without the resume flag"},
		{"offset over int64", ext(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[3+len(extMagic):], 1<<63)
			return b
		}), "out of range"},
		{"extension cut", ext(func(b []byte) []byte { return b[:len(b)-1] }), "has a NUL byte"},
		{"empty name with extension", ext(func(b []byte) []byte { return b[1:] }), "bad file name: empty"},
	} {
		_, err := ReadRequest(bytes.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestWriteRequestRefuses(t *testing.T) {
	for _, r := range []Request{
		{Name: ""},
		{Name: "a\x00b"},
		{Name: strings.Repeat("x", MaxRequest+1)},
		{Name: strings.Repeat("x", MaxRequest-extLen+1), Ext: true},
		{Name: "f", Ext: true, Flags: FlagResume, Offset: -1},
	} {
		var buf bytes.Buffer
		if err := WriteRequest(&buf, r); err == nil {
			t.Errorf("WriteRequest(%.20q, ext %v, offset %d) = nil", r.Name, r.Ext, r.Offset)
		}
		if buf.Len() != 0 {
			t.Errorf("a refused request wrote %d bytes", buf.Len())
		}
	}
}

func TestLocalName(t *testing.T) {
	for name, want := range map[string]string{
		"a":           "a",
		"dir/f":       "dir/f",
		"./dir//f":    "dir/f",
		"dir/./f":     "dir/f",
		"a..b":        "a..b",
		"..a/b":       "..a/b",
		"dir/":        "dir",
		"dir/sub/../": "",
		"..":          "",
		"../x":        "",
		"a/../../x":   "",
		"/etc/passwd": "",
		"//x":         "",
		"a\\..\\b":    "",
		".":           "",
		"./":          "",
	} {
		got, err := LocalName(name)
		if want == "" {
			if err == nil {
				t.Errorf("LocalName(%q) = %q, want an error", name, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("LocalName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := LocalName("../x"); !errors.Is(err, ErrOutside) {
		t.Errorf("LocalName(../x): %v is not ErrOutside", err)
	}
}

func TestReplyRoundTrip(t *testing.T) {
	nonce := [8]byte{9, 8, 7, 6, 5, 4, 3, 2}
	for _, tc := range []struct {
		size int64
		ext  *ExtReply
	}{
		{12345, nil},
		{NoFile, nil},
		{1 << 40, &ExtReply{Nonce: nonce, Offset: 1 << 39}},
		{NoFile, &ExtReply{Nonce: nonce, Status: StatusError, Msg: "path leaves the served directory"}},
		{NoFile, &ExtReply{Nonce: nonce, Status: StatusError, Msg: strings.Repeat("m", 2*maxMsg)}},
	} {
		var buf bytes.Buffer
		if err := WriteReply(&buf, tc.size, tc.ext); err != nil {
			t.Fatal(err)
		}
		size, err := ReadSize(&buf)
		if err != nil || size != tc.size {
			t.Fatalf("ReadSize = %d, %v; want %d", size, err, tc.size)
		}
		if tc.ext == nil {
			if buf.Len() != 0 {
				t.Fatalf("a plain reply has %d more bytes", buf.Len())
			}
			continue
		}
		prefix := make([]byte, ExtReplyPrefix)
		if _, err := io.ReadFull(&buf, prefix); err != nil {
			t.Fatal(err)
		}
		if !IsExtReply(prefix, nonce) || IsExtReply(prefix, [8]byte{}) {
			t.Fatalf("IsExtReply does not tell the nonce apart")
		}
		rep, err := ReadExtReplyRest(&buf, nonce)
		if err != nil {
			t.Fatal(err)
		}
		want := *tc.ext
		if len(want.Msg) > maxMsg {
			want.Msg = want.Msg[:maxMsg]
		}
		if rep != want {
			t.Fatalf("got %+v, want %+v", rep, want)
		}
	}
}

// FuzzReadRequest feeds the server's request parser hostile streams: it
// must never panic, never accept a name that LocalName or WriteRequest
// would treat differently, and what it accepts must survive a round trip.
func FuzzReadRequest(f *testing.F) {
	f.Add(upstreamRequest("file.bin"))
	f.Add(upstreamRequest("../../etc/passwd"))
	f.Add(upstreamRequest("/etc/shadow"))
	f.Add(upstreamRequest("a\x00b"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'x'})
	f.Add([]byte{0, 4, 0, 0})
	var buf bytes.Buffer
	_ = WriteRequest(&buf, Request{Name: "dir/f", Ext: true, Flags: FlagResume | FlagDigest, Offset: 99, Nonce: [8]byte{1}})
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		req, err := ReadRequest(r)
		if err != nil {
			return
		}
		if consumed := len(in) - r.Len(); consumed > 4+MaxRequest {
			t.Fatalf("read %d bytes, more than a request can hold", consumed)
		}
		if req.Name == "" || strings.IndexByte(req.Name, 0) >= 0 || req.Offset < 0 {
			t.Fatalf("accepted %+v", req)
		}
		if clean, err := LocalName(req.Name); err == nil {
			if strings.HasPrefix(clean, "/") || clean == ".." || strings.HasPrefix(clean, "../") {
				t.Fatalf("LocalName(%q) = %q escapes", req.Name, clean)
			}
		}
		var out bytes.Buffer
		if err := WriteRequest(&out, req); err != nil {
			t.Fatalf("an accepted request does not write back: %v", err)
		}
		again, err := ReadRequest(&out)
		if err != nil || again != req {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, req)
		}
	})
}

// FuzzReadReply feeds the client's reply parser a hostile server.
func FuzzReadReply(f *testing.F) {
	nonce := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	var ok bytes.Buffer
	_ = WriteReply(&ok, 100, &ExtReply{Nonce: nonce, Offset: 10})
	f.Add(ok.Bytes())
	var bad bytes.Buffer
	_ = WriteReply(&bad, NoFile, &ExtReply{Nonce: nonce, Status: StatusError, Msg: "nope"})
	f.Add(bad.Bytes())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		if _, err := ReadSize(r); err != nil {
			return
		}
		prefix := make([]byte, ExtReplyPrefix)
		if _, err := io.ReadFull(r, prefix); err != nil || !IsExtReply(prefix, nonce) {
			return
		}
		rep, err := ReadExtReplyRest(r, nonce)
		if err != nil {
			return
		}
		if len(rep.Msg) > maxMsg || rep.Offset < 0 || rep.Status > StatusError {
			t.Fatalf("accepted %+v", rep)
		}
	})
}
