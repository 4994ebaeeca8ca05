package kontur

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/signet-agent/signet/plugins/kontur/store"
	"github.com/signet-agent/signet/sdk"
)

// Version of the plugin.
const Version = "0.1.0"

// Plugin is the kontur plugin: Signet's server mode for confirmed cloud
// signing. Its one option, "config", names the server configuration file.
type Plugin struct{}

// Describe names the plugin and its API listener.
func (Plugin) Describe() sdk.Description {
	return sdk.Description{
		Name:    "kontur",
		Version: Version,
		Summary: "Confirmed cloud signing and decryption (Kontur.Extern API), state in PostgreSQL",
		Listeners: []sdk.ListenerSpec{
			{Name: "api", Addr: "127.0.0.1:9095"},
		},
	}
}

// Serve opens the shared database (applying migrations), sweeps lost tasks
// in the background, and serves the API until the host stops the plugin.
func (Plugin) Serve(ctx context.Context, host *sdk.Host) error {
	path := host.Option("config")
	if path == "" {
		return errors.New("kontur: the plugin needs options.config naming its configuration file")
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	dsn, err := cfg.DSN()
	if err != nil {
		return fmt.Errorf("kontur: %w", err)
	}
	st, err := store.Open(ctx, dsn, cfg.Replica)
	if err != nil {
		return fmt.Errorf("kontur: %w", err)
	}
	defer st.Close()
	srv, err := NewServer(cfg, st, host.KeyService(), host.Logger())
	if err != nil {
		return fmt.Errorf("kontur: %w", err)
	}
	go srv.sweep(ctx)
	return sdk.ServeHTTP(ctx, host, "api", srv.Handler())
}

// sweep fails, every cfg.Sweep, tasks whose replica stopped mid-task and
// requests whose code expired, until ctx ends.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(s.cfg.Sweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.st.Sweep(ctx); err != nil {
				s.log.Warn("sweep", "error", err)
			} else if n > 0 {
				s.log.Info("sweep failed interrupted or expired requests", "count", n)
			}
		}
	}
}
