package udthttp_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"

	"github.com/udtgo/udt/integrations/udthttp"
)

// An HTTP/1.1 server on a UDT listener and a client whose Transport dials
// UDT.
func Example() {
	lis, err := udthttp.Listen("127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s", r.Proto)
	})}
	go srv.Serve(lis)
	defer srv.Shutdown(context.Background())

	client := &http.Client{Transport: udthttp.NewTransport(nil)}
	resp, err := client.Get("http://" + lis.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(body))
	// Output: hello over HTTP/1.1
}

// HTTP/2 without TLS (h2c) needs only net/http's Protocols on both ends.
func ExampleNewTransport_h2c() {
	lis, err := udthttp.Listen("127.0.0.1:0", nil)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello over %s", r.Proto)
	})}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go srv.Serve(lis)
	defer srv.Shutdown(context.Background())

	tr := udthttp.NewTransport(nil)
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	resp, err := (&http.Client{Transport: tr}).Get("http://" + lis.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(body))
	// Output: hello over HTTP/2.0
}
