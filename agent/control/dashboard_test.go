package control

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDashboardRequest: "dashboard" answers the URL the agent gives, and an
// agent without a dashboard answers an error.
func TestDashboardRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		dash func() string
		want string
	}{
		{"enabled", func() string { return "https://127.0.0.1:4242/d/abc" }, "https://127.0.0.1:4242/d/abc"},
		{"empty", func() string { return "" }, ""},
		{"none", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			path := sockPath(t)
			l, err := Listen(path)
			require.NoError(t, err)
			sctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				(&Server{Agent: &fakeAgent{}, Dashboard: tc.dash}).Serve(sctx, l)
				close(done)
			}()
			defer func() { stop(); <-done; l.Close() }()
			c := dial(t, path)
			u, err := c.Dashboard(ctx)
			if tc.want == "" {
				require.Error(t, err, "got %q, want an error", u)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, u)
		})
	}
}
