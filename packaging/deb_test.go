// Package packaging holds the Debian package's recipe (build-deb.sh, run
// by `make package`) and its test: build the package, inspect it with
// dpkg-deb, unpack it into a throw-away root and run the installed agent
// there the way its systemd user unit does.
package packaging

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const testVersion = "0.0.1~test"

// buildDeb runs `make package` (the Makefile's plugin list) into a
// temporary directory and returns the .deb.
func buildDeb(t *testing.T) string {
	t.Helper()
	dist := t.TempDir()
	cmd := exec.Command("make", "-s", "-C", "..", "package", "DIST="+dist, "PKG_VERSION="+testVersion)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make package:\n%s", out)
	debs, err := filepath.Glob(filepath.Join(dist, "signet_"+testVersion+"_*.deb"))
	require.NoError(t, err)
	require.Len(t, debs, 1, "make package output:\n%s", out)
	return debs[0]
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		require.NoError(t, err, "%s %v: %s", name, args, ee.Stderr)
	}
	require.NoError(t, err, "%s %v", name, args)
	return string(out)
}

// TestDebianPackage builds the package and checks it as an administrator
// and a person would meet it.
func TestDebianPackage(t *testing.T) {
	deb := buildDeb(t)

	t.Run("control", func(t *testing.T) {
		fields := map[string]string{}
		for _, f := range []string{"Package", "Version", "Architecture", "Depends", "Recommends", "Maintainer", "Description"} {
			fields[f] = strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, f))
		}
		assert.Equal(t, "signet", fields["Package"])
		assert.Equal(t, testVersion, fields["Version"])
		assert.Equal(t, run(t, "go", "env", "GOARCH"), fields["Architecture"]+"\n")
		assert.Contains(t, fields["Depends"], "libc6")
		assert.NotContains(t, fields["Depends"]+fields["Recommends"], "softhsm", "SoftHSM is a test tool, not a dependency")
		assert.Contains(t, strings.Split(fields["Recommends"], ", "), "opensc-pkcs11")
		assert.NotContains(t, fields["Maintainer"], "localhost")

		ctrl := t.TempDir()
		run(t, "dpkg-deb", "-e", deb, ctrl)
		conffiles, err := os.ReadFile(filepath.Join(ctrl, "conffiles"))
		require.NoError(t, err)
		assert.Equal(t, "/etc/signet/config.yaml\n", string(conffiles))
		post, err := os.ReadFile(filepath.Join(ctrl, "postinst"))
		require.NoError(t, err)
		var code []string // the script without its comments
		for _, line := range strings.Split(string(post), "\n") {
			if !strings.HasPrefix(strings.TrimSpace(line), "#") {
				code = append(code, line)
			}
		}
		for _, s := range []string{"trust", "certutil", "update-ca", "nssdb", ".pki", "/home", "/root"} {
			assert.NotContains(t, strings.Join(code, "\n"), s, "postinst touches a trust store or a home")
		}
		assert.Contains(t, string(post), "deb-systemd-helper --user enable signet.service")
	})

	t.Run("files", func(t *testing.T) {
		listing := run(t, "dpkg-deb", "-c", deb)
		want := map[string]string{
			"./usr/bin/signet": "-rwxr-xr-x root/root",
			"./usr/lib/signet/plugins/signet-plugin-eimzo":      "-rwxr-xr-x root/root",
			"./usr/lib/signet/plugins/signet-plugin-example":    "-rwxr-xr-x root/root",
			"./usr/lib/signet/plugins/signet-plugin-cryptoarm":  "-rwxr-xr-x root/root",
			"./usr/lib/signet/plugins/signet-plugin-cipher":     "-rwxr-xr-x root/root",
			"./usr/lib/signet/plugins/signet-plugin-kontur":     "-rwxr-xr-x root/root",
			"./etc/signet/config.yaml":                          "-rw-r--r-- root/root",
			"./usr/lib/systemd/user/signet.service":             "-rw-r--r-- root/root",
			"./usr/share/bash-completion/completions/signet":    "-rw-r--r-- root/root",
			"./usr/share/zsh/vendor-completions/_signet":        "-rw-r--r-- root/root",
			"./usr/share/fish/vendor_completions.d/signet.fish": "-rw-r--r-- root/root",
			"./usr/share/man/man1/signet.1.gz":                  "-rw-r--r-- root/root",
			"./usr/share/man/man1/signet-serve.1.gz":            "-rw-r--r-- root/root",
			"./usr/share/man/man1/signet-doctor.1.gz":           "-rw-r--r-- root/root",
			"./usr/share/man/man1/signet-service-install.1.gz":  "-rw-r--r-- root/root",
			"./usr/share/doc/signet/README.admin.md":            "-rw-r--r-- root/root",
			"./usr/share/doc/signet/copyright":                  "-rw-r--r-- root/root",
			"./usr/share/doc/signet/changelog.gz":               "-rw-r--r-- root/root",
		}
		got := map[string]string{}
		for _, line := range strings.Split(listing, "\n") {
			f := strings.Fields(line)
			if len(f) >= 6 {
				got[f[len(f)-1]] = f[0] + " " + f[1]
			}
		}
		for path, mode := range want {
			assert.Equal(t, mode, got[path], "%s in the package", path)
		}
		for path := range got {
			assert.False(t, strings.Contains(path, "softhsm") || strings.HasPrefix(path, "./home") || strings.HasPrefix(path, "./root"), "unexpected %s", path)
		}
	})

	t.Run("lintian", func(t *testing.T) {
		_, err := exec.LookPath("lintian")
		require.NoError(t, err, "lintian (Debian package lintian; make deps installs it)")
		out, err := exec.Command("lintian", "--fail-on", "error,warning", deb).CombinedOutput()
		assert.NoError(t, err, "lintian:\n%s", out)
		assert.NotRegexp(t, regexp.MustCompile(`(?m)^[EW]: `), string(out))
	})

	t.Run("installed agent", func(t *testing.T) { testInstalledAgent(t, deb) })
}

// testInstalledAgent unpacks the package into a throw-away root and runs
// its agent as the user unit does (NOTIFY_SOCKET, XDG_RUNTIME_DIR), with
// the packaged configuration moved to free ports: READY=1 arrives, the
// first start says how to trust the local CA, the pinned E-IMZO plugin
// starts from the package's plugin directory and its port answers.
func testInstalledAgent(t *testing.T, deb string) {
	root := t.TempDir()
	run(t, "dpkg", "-x", deb, root)

	// Every plugin is pinned by the SHA-256 of the file the package ships.
	cfgData, err := os.ReadFile(filepath.Join(root, "etc/signet/config.yaml"))
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal(cfgData, &cfg))
	plugins := cfg["plugins"].([]any)
	require.Len(t, plugins, 5, "plugins in the packaged configuration (eimzo, cryptoarm; cipher, kontur, example disabled)")
	for _, p := range plugins {
		p := p.(map[string]any)
		data, err := os.ReadFile(filepath.Join(root, "usr/lib/signet/plugins", p["path"].(string)))
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		assert.Equal(t, hex.EncodeToString(sum[:]), p["sha256"], "pin of %s", p["name"])
	}

	// The unit the package ships is the one its signet writes.
	unit, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/user/signet.service"))
	require.NoError(t, err)
	signet := filepath.Join(root, "usr/bin/signet")
	assert.Equal(t, run(t, signet, "service", "unit", "--exec", "/usr/bin/signet"), string(unit))

	// The cryptoarm:// handler's desktop entry is the one the packaged
	// signet prints.
	entry, err := os.ReadFile(filepath.Join(root, "usr/share/applications/signet-url-handler.desktop"))
	require.NoError(t, err, "desktop entry")
	assert.Equal(t, run(t, signet, "install-handlers", "--print", "--exec", "/usr/bin/signet"), string(entry))
	assert.Contains(t, string(entry), "MimeType=x-scheme-handler/cryptoarm;")

	// The packaged configuration, with the package's root and free ports.
	home, err := os.MkdirTemp("", "signetpkg") // short: unix socket paths are limited
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(home) })
	wss, ws := freeAddr(t), freeAddr(t)
	cfg["plugin_dir"] = filepath.Join(root, "usr/lib/signet/plugins")
	cfg["data_dir"] = filepath.Join(home, "data")
	for _, p := range plugins {
		p := p.(map[string]any)
		if p["name"] == "eimzo" {
			p["listen"] = []string{wss, ws}
		}
	}
	cfg["keystore"] = map[string]any{"pfx_dirs": []string{filepath.Join(home, "keys")}} // no token on a build machine
	require.NoError(t, os.MkdirAll(filepath.Join(home, "keys"), 0o700))
	cfgOut, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	cfgPath := filepath.Join(home, "config.yaml")
	require.NoError(t, os.WriteFile(cfgPath, cfgOut, 0o600))

	runDir := filepath.Join(home, "run")
	require.NoError(t, os.MkdirAll(runDir, 0o700))
	notifyPath := filepath.Join(home, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	require.NoError(t, err)
	defer notify.Close()

	var log bytes.Buffer
	cmd := exec.Command(signet, "serve", "--config", cfgPath, "--prompt", "none")
	cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "XDG_RUNTIME_DIR=" + runDir,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "NOTIFY_SOCKET=" + notifyPath}
	cmd.Stdout, cmd.Stderr = &log, &log
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	}()

	require.NoError(t, notify.SetReadDeadline(time.Now().Add(90*time.Second)))
	buf := make([]byte, 4096)
	n, err := notify.Read(buf)
	require.NoError(t, err, "no READY=1 on NOTIFY_SOCKET")
	msg := string(buf[:n])
	assert.Contains(t, msg, "READY=1\n")
	assert.Contains(t, msg, "signet trust install", "the first start tells how to trust the local CA")

	out := run(t, signet, "plugins", "--json", "--socket", filepath.Join(runDir, "signet", "control.sock"))
	var ps []struct {
		Name, State string
		Listeners   []struct{ Name, Addr string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &ps), "%s", out)
	require.Len(t, ps, 2, "only the enabled plugins run: %s", out)
	for i, name := range []string{"cryptoarm", "eimzo"} {
		assert.Equal(t, name, ps[i].Name)
		assert.Equal(t, "running", ps[i].State, name)
	}

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + ws + "/")
	require.NoError(t, err, "the E-IMZO ws port")
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the E-IMZO status page")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
