package plugintest

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/wire"
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
		Listen:  []host.ListenConfig{{Name: "*", Addr: "127.0.0.1:0"}, {Name: "public", Addr: "0.0.0.0:0"}},
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	st := h.Status()
	if st.State != host.Running || st.Version != "1.2.3" || st.PID == 0 || len(st.URLSchemes) != 1 {
		t.Fatalf("status: %+v", st)
	}
	for _, check := range []string{"tokens", "sign", "decrypt", "csr", "notfound", "request-id", "consent", "log", "listen-public", "option"} {
		t.Run(check, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := h.Manager.OpenURL(ctx, "check://"+check); err != nil {
				t.Fatal(err)
			}
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
	for _, want := range []string{"plugin=plugin-under-test", "check=log", "g.answer=42"} {
		if !strings.Contains(line, want) {
			t.Errorf("plugin log line %q lacks %q", line, want)
		}
	}
	// The TLS listener serves a certificate from the host's CA for the
	// declared names.
	conn, err := tls.Dial("tcp", h.Addr("tls"), &tls.Config{RootCAs: h.CA.Pool(), ServerName: "conformance.localhost"})
	if err != nil {
		t.Fatalf("TLS to plugin listener: %v", err)
	}
	greeting, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.Contains(greeting, "hello from plugin-under-test") {
		t.Errorf("greeting %q", greeting)
	}
	// Unknown schemes have no handler.
	if err := h.Manager.OpenURL(context.Background(), "nope://x"); !errors.Is(err, host.ErrNoHandler) {
		t.Errorf("unknown scheme: %v", err)
	}
}

func TestConsentDenied(t *testing.T) {
	deny := consent.AskerFunc(func(_ context.Context, r consent.Request) error {
		if r.Kind == consent.Sign {
			return fmt.Errorf("test says no: %w", hsm.ErrDenied)
		}
		return nil
	})
	h := Start(t, conformance, &Config{Consent: deny})
	if err := h.Manager.OpenURL(context.Background(), "check://denied"); err != nil {
		t.Fatal(err)
	}
}

// A plugin exits when its lifeline pipe from the host closes (the host
// died), independently of Pdeathsig and of its parent process id.
func TestPluginExitsWhenLifelineCloses(t *testing.T) {
	bin := Build(t, "github.com/signet-agent/signet/plugins/example")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), wire.Handshake.MagicCookieKey+"="+wire.Handshake.MagicCookieValue,
		"PLUGIN_PROTOCOL_VERSIONS=1", wire.EnvLifeline+"=3")
	cmd.ExtraFiles = []*os.File{r}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "1|1|") {
		cmd.Process.Kill()
		t.Fatalf("handshake line %q: %v", line, err)
	}
	w.Close() // the "host" is gone
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("plugin exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("plugin still running 10s after its lifeline closed")
	}
}
