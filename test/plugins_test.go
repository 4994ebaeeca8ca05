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
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
)

// The example plugin signs through the agent with every key type; the
// signatures verify with the certificates' public keys.
func TestExampleSignsThroughAgent(t *testing.T) {
	a := startAgent(t, examplePlugin())
	p := a.plugin("example")
	if p.State != host.Running || p.PID == 0 || p.Version == "" {
		t.Fatalf("plugin status: %+v", p)
	}
	addr := exampleAddr(t, p)
	c := a.client()
	uris := keyURIs(t, c, addr)
	digest := sha256.Sum256([]byte("document signed end to end"))
	for _, label := range []string{softhsmtest.KeyRSA, softhsmtest.KeyECDSA, softhsmtest.KeyEd25519} {
		t.Run(label, func(t *testing.T) {
			uri, ok := uris[label]
			if !ok {
				t.Fatalf("key %s not listed: %v", label, uris)
			}
			r, err := signDigest(c, addr, uri, digest[:], "e2e-"+label)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Error)
			}
			if err := softhsmtest.VerifySignature(fixture.Keys[label].Certificate.PublicKey, digest[:], r.Signature, crypto.SHA256); err != nil {
				t.Fatal(err)
			}
			opensslVerify(t, fixture.Keys[label].Certificate, label == softhsmtest.KeyEd25519, digest[:], r.Signature)
		})
	}
}

// opensslVerify cross-checks a signature over digest with OpenSSL.
func opensslVerify(t *testing.T, cert *x509.Certificate, raw bool, digest, sig []byte) {
	t.Helper()
	dir := t.TempDir()
	certPath, inPath, sigPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "in.bin"), filepath.Join(dir, "sig.bin")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600)
	os.WriteFile(inPath, digest, 0o600)
	os.WriteFile(sigPath, sig, 0o600)
	args := []string{"pkeyutl", "-verify", "-certin", "-inkey", certPath, "-in", inPath, "-sigfile", sigPath}
	if raw {
		args = append(args, "-rawin") // Ed25519 signs the 32 bytes as the message
	} else {
		args = append(args, "-pkeyopt", "digest:sha256")
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
}

// SIGKILL the plugin while requests run: requests in flight fail cleanly,
// the plugin comes back, the next request succeeds, and no request id is
// signed twice.
func TestPluginKilledDuringRequests(t *testing.T) {
	pc := examplePlugin()
	pc.Listen = freePort(t) // a fixed port, as in production: clients find the new instance
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
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
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
			t.Fatalf("plugin not back after SIGKILL: %+v", back)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("plugin back %v after SIGKILL (restarts=%d, last error %q)", time.Since(killed).Round(time.Millisecond), back.Restarts, back.LastError)
	if back.Restarts < 1 || back.LastError == "" {
		t.Errorf("restart not reported in status: %+v", back)
	}
	time.Sleep(300 * time.Millisecond) // let the workers reach the new instance
	close(stop)
	wg.Wait()

	// The next request succeeds on the new instance.
	r, err := signDigest(c, exampleAddr(t, back), uri, digest[:], "after-restart")
	if err != nil || r.Status != 200 {
		t.Fatalf("request after restart: %v %+v", err, r)
	}
	a.waitLog("request_id=after-restart", 5*time.Second)
	signed := signedRequestIDs(a.log.String())
	for id, n := range signed {
		if n > 1 {
			t.Errorf("request %s signed %d times", id, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for id := range ok {
		if signed[id] != 1 {
			t.Errorf("request %s answered 200 but signed %d times in the host log", id, signed[id])
		}
	}
	t.Logf("%d requests signed (%d after the kill), %d failed around the kill", len(ok), afterKill, failures)
	if afterKill == 0 {
		t.Error("no worker request succeeded on the restarted plugin")
	}
	if !strings.Contains(a.log.String(), "plugin exited, restarting") {
		t.Error("restart not reported in the log")
	}
}

// SIGKILL the agent: its plugins exit on their own.
func TestAgentKilledPluginsExit(t *testing.T) {
	a := startAgent(t, examplePlugin())
	pid := a.plugin("example").PID
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	took, gone := waitGone(pid, 10*time.Second)
	if !gone {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("plugin %d still running 10s after the agent was killed", pid)
	}
	t.Logf("plugin exited %v after the agent was SIGKILLed", took.Round(time.Millisecond))
}

// SIGTERM stops the agent and its plugins gracefully.
func TestAgentSIGTERM(t *testing.T) {
	a := startAgent(t, examplePlugin())
	pid := a.plugin("example").PID
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not exit after SIGTERM")
	}
	if a.waitErr != nil {
		t.Errorf("agent exit: %v", a.waitErr)
	}
	if _, gone := waitGone(pid, 5*time.Second); !gone {
		t.Errorf("plugin %d survived the agent's shutdown", pid)
	}
	if !strings.Contains(a.log.String(), "plugin stopped") {
		t.Errorf("no graceful plugin stop in the log")
	}
}

// A pinned SHA-256 that does not match the binary: refused, and the
// message says so.
func TestPinMismatchRefused(t *testing.T) {
	bad := strings.Repeat("ab", 32)
	pc := examplePlugin()
	pc.SHA256 = bad
	a := startAgent(t, pc)
	p := a.plugin("example")
	if p.State != host.Failed {
		t.Fatalf("state %s, want failed: %+v", p.State, p)
	}
	if !strings.Contains(p.LastError, "does not match the sha256 pinned") {
		t.Fatalf("error does not say the pin mismatched: %q", p.LastError)
	}

	// The right pin is accepted.
	data, err := os.ReadFile(pc.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	pc.SHA256 = fmt.Sprintf("%x", sum)
	a2 := startAgent(t, pc)
	if p := a2.plugin("example"); p.State != host.Running {
		t.Fatalf("correctly pinned plugin: %+v", p)
	}
}

// A plugin that writes garbage to stdout before the handshake: a readable
// error, no hang; the agent runs on.
func TestGarbageBeforeHandshake(t *testing.T) {
	script := filepath.Join(t.TempDir(), "signet-plugin-garbage")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'Hello from a program that is not a plugin'\nsleep 300\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, pluginConf{Name: "garbage", Path: script}, examplePlugin())
	p := a.plugin("garbage")
	if p.State == host.Running {
		t.Fatalf("garbage plugin running: %+v", p)
	}
	if !strings.Contains(p.LastError, "did not complete the handshake") || !strings.Contains(p.LastError, "Hello from a program") {
		t.Fatalf("error is not readable: %q", p.LastError)
	}
	if e := a.plugin("example"); e.State != host.Running {
		t.Fatalf("the other plugin is not running: %+v", e)
	}
}

// A plugin built for another protocol version is refused with a message
// naming the versions.
func TestWrongProtocolVersionRefused(t *testing.T) {
	a := startAgent(t, pluginConf{Name: "old", Path: filepath.Join(binDir, "signet-plugin-wrongprotocol")})
	p := a.plugin("old")
	if p.State != host.Failed {
		t.Fatalf("state %s, want failed: %+v", p.State, p)
	}
	if !strings.Contains(p.LastError, "another Signet plugin protocol version") {
		t.Fatalf("unclear error: %q", p.LastError)
	}
}
