package host_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, m.Start(ctx))
	require.NoError(t, m.Shutdown(ctx))
	mu.Lock()
	defer mu.Unlock()
	var states []host.State
	running := false
	for _, st := range seen {
		assert.Equal(t, "watched", st.Name, "status name")
		states = append(states, st.State)
		if st.State == host.Running {
			running = true
			assert.Positive(t, st.PID, "running without a pid: %+v", st)
		}
	}
	require.GreaterOrEqual(t, len(states), 3, "states %v", states)
	assert.Equal(t, host.Starting, states[0], "first state of %v", states)
	assert.True(t, running, "never running: %v", states)
	assert.Equal(t, host.Stopped, states[len(states)-1], "last state of %v", states)
}
