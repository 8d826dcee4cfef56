package devidp_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
)

// Serve runs the IdP on a listener until the context ends.
func ExampleIdP_Serve() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	idp, err := devidp.New(devidp.Options{ClientID: "app", AnyUser: true, Issuer: "http://" + ln.Addr().String()})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- idp.Serve(ctx, ln) }()

	u, _ := url.Parse(idp.Issuer())
	resp, err := http.Get(idp.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, u.Host == ln.Addr().String())
	cancel()
	fmt.Println("stopped:", <-done)
	// Output:
	// 200 true
	// stopped: <nil>
}
