// Package e2e runs whole-system tests with real binaries: `signet serve`
// and plugins built with go build in TestMain, a real SoftHSM2 token, real
// TLS from the agent's local CA, real processes killed with SIGKILL.
package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/host"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/internal/testutil"
	"github.com/stretchr/testify/require"
)

var (
	binDir  string // signet and signet-plugin-* binaries
	hsmEnv  *softhsmtest.Env
	fixture *softhsmtest.Fixture
)

const tokenLabel = "e2e"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "signet-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = filepath.Join(dir, "bin")
	goTool := "go" // go test puts $GOROOT/bin first on PATH
	for out, pkg := range map[string]string{
		"signet":                      "github.com/signet-agent/signet/agent/cmd/signet",
		"signet-plugin-example":       "github.com/signet-agent/signet/plugins/example",
		"signet-plugin-kontur":        "github.com/signet-agent/signet/plugins/kontur/cmd/signet-plugin-kontur",
		"signet-plugin-cipher":        "github.com/signet-agent/signet/plugins/cipher/cmd/signet-plugin-cipher",
		"signet-plugin-wrongprotocol": "./testdata/wrongprotocol",
		"signet-plugin-cryptoarm":     "github.com/signet-agent/signet/plugins/cryptoarm/cmd/signet-plugin-cryptoarm",
	} {
		cmd := exec.Command(goTool, "build", "-o", filepath.Join(binDir, out), pkg)
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
		if msg, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, msg)
			return 1
		}
	}
	hsmEnv, err = softhsmtest.NewEnv(filepath.Join(dir, "softhsm"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fixture, err = softhsmtest.NewFixture(hsmEnv, tokenLabel, softhsmtest.DefaultUserPIN, softhsmtest.DefaultSOPIN, softhsmtest.StandardKeys)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// agent is a running `signet serve`.
type agent struct {
	t       testing.TB
	cmd     *exec.Cmd
	dir     string
	socket  string
	log     *testutil.SyncBuffer
	exited  chan struct{}
	waitErr error
}

// freePort returns a loopback address with a port free right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// startAgent writes a configuration with the SoftHSM module, the e2e
// token's PIN as an unattended PIN source, an allow-all unattended policy
// and the given plugins (each on 127.0.0.1:0 unless it names its listen
// entries), starts `signet
// serve` and waits until it says it is ready.
func startAgent(t *testing.T, plugins ...pluginConf) *agent {
	t.Helper()
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin")
	require.NoError(t, os.WriteFile(pinFile, []byte(softhsmtest.DefaultUserPIN+"\n"), 0o600))
	cfg := newAgentConfig(dir)
	for _, p := range plugins {
		if len(p.Listen) == 0 {
			p.Listen = []listenConf{anyPort}
		}
		cfg.Plugins = append(cfg.Plugins, p)
	}
	cfg.Policy.Unattended = unattendedConf{
		Rules:      []ruleConf{allowAll},
		PINSources: []pinSource{{Token: "pkcs11:token=" + tokenLabel, File: pinFile}},
	}
	cfgPath := writeConfig(t, dir, cfg)
	return launchAgent(t, dir, cfgPath, nil)
}

// launchAgent starts `signet serve --config cfgPath` with its control
// socket, XDG_RUNTIME_DIR and HOME under dir and env added to the SoftHSM
// environment, waits until it says it is ready, and stops it when the test
// ends (logging its configuration and log if the test failed). args are
// further `signet serve` flags ("--prompt", "none").
func launchAgent(t testing.TB, dir, cfgPath string, env []string, args ...string) *agent {
	t.Helper()
	a := &agent{t: t, dir: dir, socket: filepath.Join(dir, "run", "control.sock"), log: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	require.NoError(t, os.MkdirAll(filepath.Dir(a.socket), 0o700))
	a.cmd = exec.Command(filepath.Join(binDir, "signet"), append([]string{"serve", "--config", cfgPath, "--socket", a.socket}, args...)...)
	a.cmd.Env = append(append(hsmEnv.Environ(), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"), "HOME="+dir), env...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	require.NoError(t, a.cmd.Start())
	go func() {
		a.waitErr = a.cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			cfg, _ := os.ReadFile(cfgPath)
			t.Logf("agent config:\n%s\nagent log:\n%s", cfg, a.log.String())
		}
	})
	a.waitLog("signet agent ready", 60*time.Second)
	return a
}

// waitLog waits until the agent's log contains s.
func (a *agent) waitLog(s string, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(a.log.String(), s) {
		select {
		case <-a.exited:
			a.t.Fatalf("agent exited (%v) before logging %q:\n%s", a.waitErr, s, a.log.String())
		default:
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("agent did not log %q within %v:\n%s", s, timeout, a.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// plugins runs `signet plugins --json` against the agent.
func (a *agent) plugins() []host.PluginStatus {
	a.t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "signet"), "plugins", "--json", "--socket", a.socket).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		require.NoError(a.t, err, "signet plugins: %s", ee.Stderr)
	}
	require.NoError(a.t, err, "signet plugins")
	var ps []host.PluginStatus
	require.NoError(a.t, json.Unmarshal(out, &ps), "signet plugins output:\n%s", out)
	return ps
}

func (a *agent) plugin(name string) host.PluginStatus {
	a.t.Helper()
	for _, p := range a.plugins() {
		if p.Name == name {
			return p
		}
	}
	a.t.Fatalf("no plugin %q", name)
	return host.PluginStatus{}
}

// client trusts only the agent's local CA.
func (a *agent) client() *http.Client {
	a.t.Helper()
	pemData, err := os.ReadFile(filepath.Join(a.dir, "data", "ca", "ca.crt"))
	require.NoError(a.t, err, "local CA certificate")
	pool := x509.NewCertPool()
	require.True(a.t, pool.AppendCertsFromPEM(pemData), "no CA certificate in ca.crt")
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true},
		Timeout:   30 * time.Second,
	}
}

func exampleAddr(t *testing.T, p host.PluginStatus) string {
	t.Helper()
	for _, l := range p.Listeners {
		if l.Name == "https" {
			return l.Addr
		}
	}
	t.Fatalf("plugin %s has no https listener: %+v", p.Name, p)
	return ""
}

type signReply struct {
	Status    int
	Signature []byte
	Error     string
}

// signDigest signs digest with keyURI through the example plugin at addr
// as the page https://portal.example would.
func signDigest(c *http.Client, addr, keyURI string, digest []byte, requestID string) (signReply, error) {
	r, err := postSign(c, addr, "https://portal.example", keyURI, digest, requestID)
	if err != nil {
		return signReply{}, err
	}
	var out struct {
		Signature string `json:"signature"`
		Error     string `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		return signReply{}, fmt.Errorf("reply %d: %w: %q", r.Status, err, r.Body)
	}
	sig, _ := base64.StdEncoding.DecodeString(out.Signature)
	return signReply{Status: r.Status, Signature: sig, Error: out.Error}, nil
}

// postSign POSTs {key, digest, request_id} to the example plugin's /sign
// at addr with origin as the Origin header and returns the reply whole.
func postSign(c *http.Client, addr, origin, keyURI string, digest []byte, requestID string) (httpReply, error) {
	body, _ := json.Marshal(map[string]string{"key": keyURI, "digest": base64.StdEncoding.EncodeToString(digest), "request_id": requestID})
	req, err := http.NewRequest("POST", "https://"+addr+"/sign", bytes.NewReader(body))
	if err != nil {
		return httpReply{}, err
	}
	req.Header.Set("Origin", origin)
	return do(c, req)
}

// getKeys GETs the example plugin's /keys at addr and returns the reply
// whole.
func getKeys(c *http.Client, addr string) (httpReply, error) {
	req, err := http.NewRequest("GET", "https://"+addr+"/keys", nil)
	if err != nil {
		return httpReply{}, err
	}
	return do(c, req)
}

// do sends req and reads the whole reply.
func do(c *http.Client, req *http.Request) (httpReply, error) {
	resp, err := c.Do(req)
	if err != nil {
		return httpReply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return httpReply{}, err
	}
	return httpReply{Status: resp.StatusCode, Body: data}, nil
}

// keyURIs lists the signing keys through the plugin's /keys endpoint.
func keyURIs(t *testing.T, c *http.Client, addr string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range listKeys(t, c, addr, nil) {
		if strings.Contains(k.URI, "token="+tokenLabel) {
			out[k.Label] = k.URI
		}
	}
	return out
}

func examplePlugin() pluginConf {
	return pluginConf{Name: "example", Path: filepath.Join(binDir, "signet-plugin-example")}
}

// signedRequestIDs counts the host's "signed" log records per request id.
func signedRequestIDs(log string) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "msg=signed") {
			continue
		}
		if _, after, ok := strings.Cut(line, " request_id="); ok {
			id, _, _ := strings.Cut(after, " ")
			out[id]++
		}
	}
	return out
}

func pidAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func waitGone(pid int, timeout time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < timeout {
		if !pidAlive(pid) {
			return time.Since(start), true
		}
		// A zombie child of a dead parent is reaped by init; a zombie
		// counts as gone for our purpose.
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
				return time.Since(start), true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return timeout, false
}
