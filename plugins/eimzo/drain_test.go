package eimzo

import (
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// When the plugin stops (sdk.HTTPServer calls Drain), a kept WebSocket
// waiting for its next request is closed with 1001 "Going Away" at once,
// instead of holding the drain until its idle timeout: the server cannot
// close a hijacked connection gracefully itself.
func TestDrainClosesIdleKeptConnections(t *testing.T) {
	s, url := limitsServer(t, Limits{}, true)
	c := dialKeep(t, url, "https://a.example")
	status, err := send(t, c, versionCall)
	require.NoError(t, err)
	require.Equal(t, StatusOK, status)

	s.Drain()
	s.Drain() // a second call is harmless
	assert.Equal(t, websocket.CloseGoingAway, closeCode(t, c))
}
