package host_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/internal/plugintest"
)

// TestOnChange: Config.OnChange sees a real plugin go starting → running →
// stopped, with the status of the moment (a pid while running).
func TestOnChange(t *testing.T) {
	h := plugintest.Start(t, example, nil) // builds the plugin and the shared key store
	var mu sync.Mutex
	var seen []host.PluginStatus
	m := host.New(host.Config{
		Plugins:  []host.PluginSpec{{Name: "watched", Path: h.Binary, Listen: []host.ListenConfig{{Name: "*", Addr: "127.0.0.1:0"}}}},
		KeyStore: h.Store,
		Consent:  consent.AllowAll,
		TLS:      h.CA,
		OnChange: func(st host.PluginStatus) {
			mu.Lock()
			seen = append(seen, st)
			mu.Unlock()
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var states []host.State
	running := false
	for _, st := range seen {
		if st.Name != "watched" {
			t.Errorf("status of %q", st.Name)
		}
		states = append(states, st.State)
		if st.State == host.Running {
			running = true
			if st.PID <= 0 {
				t.Errorf("running without a pid: %+v", st)
			}
		}
	}
	if len(states) < 3 || states[0] != host.Starting || !running || states[len(states)-1] != host.Stopped {
		t.Fatalf("states %v", states)
	}
}
