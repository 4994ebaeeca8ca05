package plugintest

import (
	"bufio"
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const conformance = "./testdata/conformance"

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestHostServices(t *testing.T) {
	logs := &logBuffer{}
	h := Start(t, conformance, &Config{
		Options: map[string]string{"greeting": "hello"},
		Listen:  []Listen{{Name: "*", Addr: "127.0.0.1:0"}, {Name: "public", Addr: "0.0.0.0:0"}},
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	st := h.Status()
	require.Equal(t, "running", st.State, "status: %+v", st)
	require.Equal(t, "conformance", st.Name, "named after its Description")
	require.Equal(t, "conformance", h.Name())
	require.Equal(t, "1.2.3", st.Version, "status: %+v", st)
	require.NotZero(t, st.PID, "status: %+v", st)
	require.Len(t, st.URLSchemes, 1, "status: %+v", st)
	for _, check := range []string{"tokens", "sign", "decrypt", "csr", "notfound", "request-id", "consent", "log", "listen-public", "option"} {
		t.Run(check, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, h.OpenURL(ctx, "check://"+check))
		})
	}
	// The plugin's log record reached the host's log under its name.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `msg="conformance log record"`) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "conformance log record") {
			line = l
		}
	}
	for _, want := range []string{"plugin=conformance", "check=log", "g.answer=42"} {
		assert.Contains(t, line, want, "plugin log line")
	}
	// The TLS listener serves a certificate from the host's CA for the
	// declared names.
	conn, err := tls.Dial("tcp", h.Addr("tls"), &tls.Config{RootCAs: h.CAPool(), ServerName: "conformance.localhost"})
	require.NoError(t, err, "TLS to plugin listener")
	greeting, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	assert.Contains(t, greeting, "hello from conformance", "greeting")
	// Unknown schemes have no handler.
	assert.ErrorIs(t, h.OpenURL(context.Background(), "nope://x"), host.ErrNoHandler, "unknown scheme")
}

func TestConsentDenied(t *testing.T) {
	h := Start(t, conformance, &Config{Consent: Deny(Sign)})
	require.NoError(t, h.OpenURL(context.Background(), "check://denied"))
	signs := h.Consent().QuestionsOf(Sign)
	require.NotEmpty(t, signs, "no signature was asked about")
	assert.Equal(t, "conformance", signs[0].Plugin)
	assert.Equal(t, "https://conformance.example", signs[0].Origin)
}

// A plugin exits when its lifeline pipe from the host closes (the host
// died), independently of Pdeathsig and of its parent process id.
func TestPluginExitsWhenLifelineCloses(t *testing.T) {
	bin := Build(t, "github.com/signet-agent/signet/plugins/example", BuildOptions{})
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), wire.Handshake.MagicCookieKey+"="+wire.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1", wire.EnvLifeline+"=3")
	cmd.ExtraFiles = []*os.File{r}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill() // a no-op once the plugin has exited; ends it when the test failed first
	r.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "handshake line %q", line)
	require.True(t, strings.HasPrefix(line, "1|1|"), "handshake line %q", line)
	w.Close() // the "host" is gone
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "plugin exit")
		require.Equal(t, 1, ee.ExitCode(), "plugin exit: %v", err)
	case <-time.After(10 * time.Second):
		require.Fail(t, "plugin still running 10s after its lifeline closed")
	}
}
