// Command tlsname is a test plugin that declares its own TLS name,
// local.signet.test, for an HTTPS listener: a name the agent's
// configuration does not list. The host must extend its local CA so the
// plugin gets a certificate for it.
package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// Name is the TLS name the plugin declares.
const Name = "local.signet.test"

type plugin struct{}

func (plugin) Describe() sdk.Description {
	return sdk.Description{
		Name:      "tlsname",
		Version:   "0.0.1",
		Summary:   "declares the TLS name " + Name + " (test)",
		Listeners: []sdk.ListenerSpec{{Name: "https", Addr: "127.0.0.1:0", TLS: true, TLSNames: []string{Name}}},
	}
}

func (plugin) Serve(ctx context.Context, host *sdk.Host) error {
	ln, err := host.Listen(ctx, "https")
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("hello from " + Name + "\n"))
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
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
