// Command tlsname is a test plugin that declares its own TLS names for an
// HTTPS listener: local.signet.test, and the too broad names com and co.uk
// (an attacker's attempt to make the agent's CA cover every .com site).
// The agent honours a declared name only when its configuration lists it.
//
// GET /issue?name=N asks the host's TLS service for a certificate for N
// (and localhost) and answers 200 with the leaf in PEM, or 403 with the
// host's refusal.
package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// Name is the legitimate TLS name the plugin declares.
const Name = "local.signet.test"

// Declared are all the TLS names the plugin declares.
var Declared = []string{Name, "com", "co.uk"}

type plugin struct{}

func (plugin) Describe() sdk.Description {
	return sdk.Description{
		Name:      "tlsname",
		Version:   "0.0.1",
		Summary:   "declares the TLS names " + Name + ", com and co.uk (test)",
		Listeners: []sdk.ListenerSpec{{Name: "https", Addr: "127.0.0.1:0", TLS: true, TLSNames: Declared}},
	}
}

func (plugin) Serve(ctx context.Context, host *sdk.Host) error {
	ln, err := host.Listen(ctx, "https")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello from " + Name + "\n"))
	})
	mux.HandleFunc("GET /issue", func(w http.ResponseWriter, r *http.Request) {
		cfg, err := host.TLSConfig(r.Context(), "localhost", r.URL.Query().Get("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		c, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func main() { sdk.Serve(plugin{}) }
