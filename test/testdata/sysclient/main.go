// Command sysclient is a TLS client that trusts only the system certificate
// store: it GETs the URL given as its argument and exits 0 when the TLS
// handshake (and the request) succeed, 1 otherwise, printing the error. The
// e2e trust test runs it as a separate process after `signet trust
// install` and after `uninstall` (Go reads the system store once per
// process).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sysclient URL")
		os.Exit(2)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		fmt.Println("system pool:", err)
		os.Exit(1)
	}
	c := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
		Timeout:   20 * time.Second,
	}
	resp, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	fmt.Println("status", resp.StatusCode)
}
