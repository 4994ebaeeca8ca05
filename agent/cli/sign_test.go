package cli

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/stretchr/testify/require"
)

// runIn runs signet with stdin from a file and returns stdout as bytes.
func (c *cli) runIn(stdin string, args ...string) ([]byte, string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), c.env...)
	f, err := os.Open(stdin)
	require.NoError(c.t, err)
	defer f.Close()
	cmd.Stdin = f
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(c.t, err, "run signet")
	}
	return so.Bytes(), se.String(), code
}

// verifyCMS checks a DER (or BER) CMS file with OpenSSL against the root
// only, and with sdk/cms, and returns the sdk/cms report.
func verifyCMS(t *testing.T, pki *softhsmtest.PKI, p7, content string, detached bool, inform string) *cms.Report {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root.pem")
	writePEM(t, root, "CERTIFICATE", pki.Root.Raw)
	args := []string{"cms", "-verify", "-binary", "-inform", inform, "-in", p7, "-CAfile", root, "-purpose", "any", "-out", filepath.Join(dir, "out")}
	if detached {
		args = append(args, "-content", content)
	}
	openssl(t, args...)
	if !detached {
		got, _ := os.ReadFile(filepath.Join(dir, "out"))
		want, _ := os.ReadFile(content)
		require.True(t, bytes.Equal(got, want), "openssl extracted %d bytes, want the %d signed", len(got), len(want))
	}
	data, err := os.ReadFile(p7)
	require.NoError(t, err)
	if inform == "PEM" {
		b, _ := pem.Decode(data)
		require.NotNil(t, b, "not a PEM block: %.60q", data)
		require.Equal(t, "CMS", b.Type, "not a CMS PEM block: %.60q", data)
		data = b.Bytes
	}
	var det io.Reader
	if detached {
		f, err := os.Open(content)
		require.NoError(t, err)
		defer f.Close()
		det = f
	}
	rep, err := cms.Verify(data, det, &cms.VerifyOptions{Roots: pki.Roots()})
	require.NoError(t, err, "sdk/cms Verify")
	if !rep.Valid() || len(rep.Signers) == 0 || rep.Signers[0].ChainStatus != cms.ChainValid {
		for _, s := range rep.Signers {
			t.Logf("signer: %v", s.Err())
		}
		require.FailNow(t, "sdk/cms: signature not valid")
	}
	return rep
}

func TestCLISignCMS(t *testing.T) {
	env := softhsmtest.Shared()
	fx := softhsmtest.StandardToken(t, env, "cli-cms")
	c := buildCLI(t)
	mod := []string{"--module", softhsmtest.Module()}
	c.env = []string{"SIGNET_PIN=" + fx.UserPIN}
	dir := t.TempDir()
	msg := filepath.Join(dir, "msg.txt")
	require.NoError(t, os.WriteFile(msg, []byte("CMS from the signet CLI\n\x00binary\r\n"), 0o600))
	chain := filepath.Join(dir, "intermediate.pem")
	writePEM(t, chain, "CERTIFICATE", fx.PKI.Intermediate.Raw)
	keys := keysJSON(t, c, mod...)

	for _, tc := range []struct {
		name, label string
		extra       []string
	}{
		{"rsa", softhsmtest.KeyRSA, nil},
		{"rsa-pss-sha512", softhsmtest.KeyRSA, []string{"--pss", "--hash", "sha512"}},
		{"ecdsa", softhsmtest.KeyECDSA, nil},
		{"ecdsa-sha384-no-time", softhsmtest.KeyECDSA, []string{"--hash", "sha384", "--no-signing-time"}},
	} {
		k := findLabel(keys, "cli-cms", tc.label)
		for _, detached := range []bool{false, true} {
			name := tc.name + "/attached"
			if detached {
				name = tc.name + "/detached"
			}
			t.Run(name, func(t *testing.T) {
				p7 := filepath.Join(t.TempDir(), "sig.p7s")
				args := append([]string{"sign", "--key", k.URI, "--in", msg, "--out", p7, "--chain", chain}, tc.extra...)
				if detached {
					args = append(args, "--detached")
				}
				c.ok(nil, append(args, mod...)...)
				rep := verifyCMS(t, fx.PKI, p7, msg, detached, "DER")
				require.Len(t, rep.Signers, 1, "signers")
				require.Equal(t, !strings.Contains(tc.name, "no-time"), rep.Signers[0].HasSigningTime, "signingTime present")
				der, err := os.ReadFile(p7)
				require.NoError(t, err)
				sd, err := cms.ParseSignedData(der)
				require.NoError(t, err)
				require.NotEqual(t, detached, sd.HasContent, "detached %v but content %d bytes", detached, len(sd.Content))
			})
		}
	}

	t.Run("stdin-stdout-pem", func(t *testing.T) {
		k := findLabel(keys, "cli-cms", softhsmtest.KeyECDSA)
		out, stderr, code := c.runIn(msg, append([]string{"sign", "--key", k.URI, "--chain", chain, "--pem"}, mod...)...)
		require.Zero(t, code, "exit code: %s", stderr)
		p7 := filepath.Join(t.TempDir(), "sig.pem")
		os.WriteFile(p7, out, 0o600)
		verifyCMS(t, fx.PKI, p7, msg, false, "PEM")

		// "-" names standard input and output explicitly; DER on a pipe.
		out, stderr, code = c.runIn(msg, append([]string{"sign", "--key", k.URI, "--chain", chain, "--in", "-", "--out", "-", "--detached"}, mod...)...)
		require.Zero(t, code, "exit code: %s", stderr)
		p7 = filepath.Join(t.TempDir(), "sig.der")
		os.WriteFile(p7, out, 0o600)
		verifyCMS(t, fx.PKI, p7, msg, true, "DER")
	})

	t.Run("ed25519", func(t *testing.T) {
		// OpenSSL 3.0 cannot verify Ed25519 in CMS; sdk/cms checks it.
		k := findLabel(keys, "cli-cms", softhsmtest.KeyEd25519)
		p7 := filepath.Join(t.TempDir(), "sig.p7s")
		c.ok(nil, append([]string{"sign", "--key", k.URI, "--in", msg, "--out", p7, "--chain", chain}, mod...)...)
		der, err := os.ReadFile(p7)
		require.NoError(t, err)
		rep, err := cms.Verify(der, nil, &cms.VerifyOptions{Roots: fx.PKI.Roots()})
		require.NoError(t, err, "Ed25519 CMS")
		require.True(t, rep.Valid(), "Ed25519 CMS: %+v", rep)
	})

	t.Run("large-attached-streams", func(t *testing.T) {
		// Over maxAttachedInMemory: written by cms.SignAttachedStream (BER).
		big := filepath.Join(t.TempDir(), "big.bin")
		f, err := os.Create(big)
		require.NoError(t, err)
		block := bytes.Repeat([]byte("signet streams large content. "), 1<<15)
		for n := 0; n <= maxAttachedInMemory; n += len(block) {
			f.Write(block)
		}
		f.Close()
		k := findLabel(keys, "cli-cms", softhsmtest.KeyECDSA)
		p7 := filepath.Join(t.TempDir(), "big.p7s")
		c.ok(nil, append([]string{"sign", "--key", k.URI, "--in", big, "--out", p7, "--chain", chain}, mod...)...)
		verifyCMS(t, fx.PKI, p7, big, false, "DER")

		// The same from a pipe (size unknown): chunked BER, PEM-wrapped.
		f, err = os.Open(big)
		require.NoError(t, err)
		defer f.Close()
		cmd := exec.Command(c.bin, append([]string{"sign", "--key", k.URI, "--out", p7, "--chain", chain, "--pem"}, mod...)...)
		cmd.Env = append(os.Environ(), c.env...)
		cmd.Stdin = struct{ io.Reader }{f} // not an *os.File: exec feeds a pipe
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "sign from a pipe: %s", out)
		verifyCMS(t, fx.PKI, p7, big, false, "PEM")
	})

	t.Run("key-without-certificate", func(t *testing.T) {
		tokURI := findLabel(keys, "cli-cms", softhsmtest.KeyRSA).TokenURI
		var k KeyJSON
		out := c.ok(nil, append([]string{"keygen", "--token", tokURI, "--type", "p256", "--label", "cms-nocert", "--json"}, mod...)...)
		require.NoError(t, json.Unmarshal([]byte(out), &k), "keygen --json\n%s", out)
		p7 := filepath.Join(t.TempDir(), "sig.p7s")
		r := c.run(nil, append([]string{"sign", "--key", k.URI, "--in", msg, "--out", p7}, mod...)...)
		require.Equal(t, 1, r.code, "key without certificate: %s", r.stderr)
		require.Contains(t, r.stderr, "has no certificate", "key without certificate")
		require.Contains(t, r.stderr, "--raw", "key without certificate")
		_, err := os.Stat(p7)
		require.ErrorIs(t, err, os.ErrNotExist, "output file left behind")
		// --raw still signs with it.
		c.ok(nil, append([]string{"sign", "--raw", "--key", k.URI, "--in", msg}, mod...)...)
	})
}
