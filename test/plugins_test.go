package e2e

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The example plugin signs through the agent with every key type; the
// signatures verify with the certificates' public keys.
func TestExampleSignsThroughAgent(t *testing.T) {
	a := startAgent(t, examplePlugin())
	p := a.plugin("example")
	require.Equal(t, host.Running, p.State, "plugin status: %+v", p)
	require.NotZero(t, p.PID, "plugin status: %+v", p)
	require.NotEmpty(t, p.Version, "plugin status: %+v", p)
	addr := exampleAddr(t, p)
	c := a.client()
	uris := keyURIs(t, c, addr)
	digest := sha256.Sum256([]byte("document signed end to end"))
	for _, label := range []string{softhsmtest.KeyRSA, softhsmtest.KeyECDSA, softhsmtest.KeyEd25519} {
		t.Run(label, func(t *testing.T) {
			require.Contains(t, uris, label, "key %s not listed", label)
			uri := uris[label]
			r, err := signDigest(c, addr, uri, digest[:], "e2e-"+label)
			require.NoError(t, err)
			require.Equal(t, 200, r.Status, "sign: %s", r.Error)
			require.NoError(t, softhsmtest.VerifySignature(fixture.Keys[label].Certificate.PublicKey, digest[:], r.Signature, crypto.SHA256))
			opensslVerify(t, fixture.Keys[label].Certificate, label == softhsmtest.KeyEd25519, digest[:], r.Signature)
		})
	}
}

// opensslVerify cross-checks a signature over digest with OpenSSL.
func opensslVerify(t *testing.T, cert *x509.Certificate, raw bool, digest, sig []byte) {
	t.Helper()
	dir := t.TempDir()
	certPath, inPath, sigPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "in.bin"), filepath.Join(dir, "sig.bin")
	require.NoError(t, os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))
	require.NoError(t, os.WriteFile(inPath, digest, 0o600))
	require.NoError(t, os.WriteFile(sigPath, sig, 0o600))
	args := []string{"pkeyutl", "-verify", "-certin", "-inkey", certPath, "-in", inPath, "-sigfile", sigPath}
	if raw {
		args = append(args, "-rawin") // Ed25519 signs the 32 bytes as the message
	} else {
		args = append(args, "-pkeyopt", "digest:sha256")
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, "openssl %v\n%s", args, out)
	require.Contains(t, string(out), "Signature Verified Successfully", "openssl %v", args)
}

// SIGKILL the plugin while requests run: requests in flight fail cleanly,
// the plugin comes back, the next request succeeds, and no request id is
// signed twice.
func TestPluginKilledDuringRequests(t *testing.T) {
	pc := examplePlugin()
	pc.Listen = []listenConf{{Bind: freePort(t)}} // a fixed port, as in production: clients find the new instance
	a := startAgent(t, pc)
	p := a.plugin("example")
	addr := exampleAddr(t, p)
	c := a.client()
	uri := keyURIs(t, c, addr)[softhsmtest.KeyECDSA]
	digest := sha256.Sum256([]byte("x"))

	var mu sync.Mutex
	ok := map[string]bool{}
	failures, afterKill := 0, 0
	var killed time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				r, err := signDigest(c, addr, uri, digest[:], id)
				mu.Lock()
				if err == nil && r.Status == 200 {
					ok[id] = true
					if !killed.IsZero() {
						afterKill++
					}
				} else {
					failures++
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	killed = time.Now()
	mu.Unlock()
	require.NoError(t, syscall.Kill(p.PID, syscall.SIGKILL))
	// Wait for the new instance.
	var back host.PluginStatus
	for {
		back = a.plugin("example")
		if back.State == host.Running && back.PID != p.PID {
			break
		}
		if time.Since(killed) > 20*time.Second {
			close(stop)
			wg.Wait()
			require.Fail(t, "plugin not back after SIGKILL", "%+v", back)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("plugin back %v after SIGKILL (restarts=%d, last error %q)", time.Since(killed).Round(time.Millisecond), back.Restarts, back.LastError)
	assert.GreaterOrEqual(t, back.Restarts, 1, "restart not reported in status: %+v", back)
	assert.NotEmpty(t, back.LastError, "restart error not reported in status: %+v", back)
	time.Sleep(300 * time.Millisecond) // let the workers reach the new instance
	close(stop)
	wg.Wait()

	// The next request succeeds on the new instance.
	r, err := signDigest(c, exampleAddr(t, back), uri, digest[:], "after-restart")
	require.NoError(t, err, "request after restart")
	require.Equal(t, 200, r.Status, "request after restart: %+v", r)
	a.waitLog("request_id=after-restart", 5*time.Second)
	signed := signedRequestIDs(a.log.String())
	for id, n := range signed {
		assert.LessOrEqual(t, n, 1, "request %s signed more than once", id)
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range ok {
		assert.Equal(t, 1, signed[id], "request %s answered 200: times signed in the host log", id)
	}
	t.Logf("%d requests signed (%d after the kill), %d failed around the kill", len(ok), afterKill, failures)
	assert.NotZero(t, afterKill, "no worker request succeeded on the restarted plugin")
	assert.Contains(t, a.log.String(), "plugin exited, restarting", "restart not reported in the log")
}

// SIGKILL the agent: its plugins exit on their own.
func TestAgentKilledPluginsExit(t *testing.T) {
	a := startAgent(t, examplePlugin())
	pid := a.plugin("example").PID
	require.NoError(t, a.cmd.Process.Kill())
	<-a.exited
	took, gone := waitGone(pid, 10*time.Second)
	if !gone {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	require.True(t, gone, "plugin %d still running 10s after the agent was killed", pid)
	t.Logf("plugin exited %v after the agent was SIGKILLed", took.Round(time.Millisecond))
}

// SIGTERM stops the agent and its plugins gracefully.
func TestAgentSIGTERM(t *testing.T) {
	a := startAgent(t, examplePlugin())
	pid := a.plugin("example").PID
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		require.Fail(t, "agent did not exit after SIGTERM")
	}
	assert.NoError(t, a.waitErr, "agent exit")
	_, gone := waitGone(pid, 5*time.Second)
	assert.True(t, gone, "plugin %d survived the agent's shutdown", pid)
	assert.Contains(t, a.log.String(), "plugin stopped", "no graceful plugin stop in the log")
}

// A pinned SHA-256 that does not match the binary: refused, and the
// message says so.
func TestPinMismatchRefused(t *testing.T) {
	bad := strings.Repeat("ab", 32)
	pc := examplePlugin()
	pc.SHA256 = bad
	a := startAgent(t, pc)
	p := a.plugin("example")
	require.Equal(t, host.Failed, p.State, "state: %+v", p)
	require.Contains(t, p.LastError, "does not match the sha256 pinned", "error does not say the pin mismatched")

	// The right pin is accepted.
	data, err := os.ReadFile(pc.Path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	pc.SHA256 = fmt.Sprintf("%x", sum)
	a2 := startAgent(t, pc)
	p = a2.plugin("example")
	require.Equal(t, host.Running, p.State, "correctly pinned plugin: %+v", p)
}

// A plugin that writes garbage to stdout before the handshake: a readable
// error, no hang; the agent runs on.
func TestGarbageBeforeHandshake(t *testing.T) {
	script := filepath.Join(t.TempDir(), "signet-plugin-garbage")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho 'Hello from a program that is not a plugin'\nsleep 300\n"), 0o755))
	a := startAgent(t, pluginConf{Name: "garbage", Path: script}, examplePlugin())
	p := a.plugin("garbage")
	require.NotEqual(t, host.Running, p.State, "garbage plugin running: %+v", p)
	require.Contains(t, p.LastError, "did not complete the handshake", "error is not readable")
	require.Contains(t, p.LastError, "Hello from a program", "error is not readable")
	e := a.plugin("example")
	require.Equal(t, host.Running, e.State, "the other plugin is not running: %+v", e)
}

// A plugin built for another protocol version is refused with a message
// naming the versions.
func TestWrongProtocolVersionRefused(t *testing.T) {
	a := startAgent(t, pluginConf{Name: "old", Path: filepath.Join(binDir, "signet-plugin-wrongprotocol")})
	p := a.plugin("old")
	require.Equal(t, host.Failed, p.State, "state: %+v", p)
	require.Contains(t, p.LastError, "another Signet plugin protocol version", "unclear error")
}
