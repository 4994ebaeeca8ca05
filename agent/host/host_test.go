package host_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { plugintest.Main(m) }

const example = "github.com/signet-agent/signet/plugins/example"

func postSign(c *http.Client, addr, keyURI, id string) (int, error) {
	d := sha256.Sum256([]byte(id))
	body, _ := json.Marshal(map[string]string{"key": keyURI, "digest": base64.StdEncoding.EncodeToString(d[:]), "request_id": id})
	resp, err := c.Post("https://"+addr+"/sign", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// A sign request waiting for consent when the host shuts down finishes
// (the plugin drains, the host serves it meanwhile).
func TestShutdownLetsInFlightFinish(t *testing.T) {
	entered := make(chan struct{}, 1)
	slow := consent.AskerFunc(func(ctx context.Context, r consent.Request) error {
		if r.Kind == consent.Sign {
			entered <- struct{}{}
			select {
			case <-time.After(700 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	h := plugintest.Start(t, example, &plugintest.Config{Consent: slow})
	key := h.KeyURI(t, plugintest.KeyRSA)
	done := make(chan error, 1)
	var code int
	go func() {
		var err error
		code, err = postSign(h.HTTPClient(), h.Addr("https"), key, "in-flight")
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, h.Manager.Shutdown(ctx))
	require.NoError(t, <-done, "in-flight request")
	require.Equal(t, 200, code, "in-flight request: status")
	assert.Equal(t, host.Stopped, h.Status().State, "state after shutdown")
}

// SIGKILL the plugin while its host call waits for consent: the host call
// is cancelled (nothing is signed), the HTTP client sees a failure, the
// plugin is restarted and reported.
func TestPluginDiesWithHostCallInFlight(t *testing.T) {
	entered := make(chan struct{}, 1)
	var cancelled atomic.Int32
	asker := consent.AskerFunc(func(ctx context.Context, r consent.Request) error {
		if r.Kind == consent.Sign && r.RequestID == "doomed" {
			entered <- struct{}{}
			<-ctx.Done()
			cancelled.Add(1)
			return ctx.Err()
		}
		return nil
	})
	h := plugintest.Start(t, example, &plugintest.Config{
		Consent: asker,
		Listen:  []host.ListenConfig{{Name: "https", Addr: freeAddr(t)}},
	})
	key := h.KeyURI(t, plugintest.KeyECDSA)
	before := h.Status()
	done := make(chan error, 1)
	go func() {
		// Any failure (connection reset, 5xx) is a clean failure; success
		// is not possible since consent never answered.
		code, err := postSign(h.HTTPClient(), h.Addr("https"), key, "doomed")
		if err == nil && code == 200 {
			done <- errors.New("request whose consent never answered succeeded")
			return
		}
		done <- nil
	}()
	<-entered
	require.NoError(t, syscall.Kill(before.PID, syscall.SIGKILL))
	require.NoError(t, <-done, "in-flight request")
	deadline := time.Now().Add(10 * time.Second)
	for cancelled.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	require.EqualValues(t, 1, cancelled.Load(), "the host call of the dead plugin was not cancelled")
	var st host.PluginStatus
	for {
		st = h.Status()
		if st.State == host.Running && st.PID != before.PID {
			break
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "plugin not restarted", "%+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	assert.Equal(t, 1, st.Restarts, "restart not reported: %+v", st)
	assert.NotEmpty(t, st.LastError, "restart not reported: %+v", st)
	code, err := postSign(h.HTTPClient(), h.Addr("https"), key, "after")
	require.NoError(t, err, "after restart")
	require.Equal(t, 200, code, "after restart: status")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := (&netListenConfig{}).listen()
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"signet-plugin-a":   0o755,
		"signet-plugin-b":   0o755,
		"signet-plugin-noX": 0o644, // not executable
		"other":             0o755,
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode))
	}
	specs, err := host.Discover(host.Config{Dir: dir, Plugins: []host.PluginSpec{
		{Name: "b", SHA256: "ab"},                 // pins the discovered one
		{Name: "c", Path: "/opt/signet-plugin-c"}, // named in config only
	}})
	require.NoError(t, err)
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"a", "b", "c"}, names, "specs: %+v", specs)
	assert.Equal(t, "ab", specs[1].SHA256, "b: %+v", specs[1])
	assert.Equal(t, filepath.Join(dir, "signet-plugin-b"), specs[1].Path, "b: %+v", specs[1])
	_, err = host.Discover(host.Config{Dir: dir, Plugins: []host.PluginSpec{{Name: "missing"}}})
	assert.Error(t, err, "a configured plugin without path and file was accepted")
}

// recorder approves everything and records outcomes, like the consent
// engine's journal.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) Ask(context.Context, consent.Request) error { return nil }

func (r *recorder) Record(_ context.Context, req consent.Request, err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf("%s %s %v", req.Kind, req.RequestID, err))
	return nil
}

// The host reports each key operation's outcome to a consent system that
// records them.
func TestOutcomesRecorded(t *testing.T) {
	rec := &recorder{}
	h := plugintest.Start(t, example, &plugintest.Config{Consent: rec})
	code, err := postSign(h.HTTPClient(), h.Addr("https"), h.KeyURI(t, plugintest.KeyRSA), "journal-1")
	require.NoError(t, err, "sign")
	require.Equal(t, 200, code, "sign: status")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []string{"sign journal-1 <nil>"}, rec.got, "recorded")
}
