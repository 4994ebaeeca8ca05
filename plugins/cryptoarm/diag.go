package cryptoarm

import (
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/signet-agent/signet/sdk"
)

// Diagnostic items (§7).
var diagItems = []string{"SYSTEMINFORMATION", "CSP_ENABLED", "CADES_ENABLED", "VERSIONS", "PROVIDERS", "LICENSES", "PERSONALCERTIFICATES"}

// systemInformation mimics Node's os.type()/os.platform() values.
func systemInformation() map[string]string {
	typ, platform := "Linux", runtime.GOOS
	switch runtime.GOOS {
	case "windows":
		typ, platform = "Windows_NT", "win32"
	case "darwin":
		typ = "Darwin"
	}
	arch := runtime.GOARCH
	if arch == "amd64" {
		arch = "x64"
	}
	return map[string]string{"type": typ, "arch": arch, "platform": platform, "packageType": "signet"}
}

// preTrustDiagnostic is the diagnostic object of a parameters request: it
// goes to a service not trusted yet, so it says what Signet is and nothing
// about the person's keys (PERSONALCERTIFICATES is empty).
func (r *Runner) preTrustDiagnostic() map[string]any {
	d := map[string]any{}
	for _, it := range diagItems {
		if it != "PERSONALCERTIFICATES" {
			d[it] = r.diagItem(it, nil)
		}
	}
	d["PERSONALCERTIFICATES"] = []any{}
	return d
}

func (r *Runner) diagItem(name string, keys []sdk.Key) any {
	switch name {
	case "SYSTEMINFORMATION":
		return systemInformation()
	case "CSP_ENABLED", "CADES_ENABLED":
		return true
	case "VERSIONS":
		return map[string]string{"signet": r.cfg.Version, "cryptoarm": r.cfg.Version, "csp": ""}
	case "PROVIDERS":
		return map[string]bool{"RSA": true, "ECDSA": true, "Ed25519": true, "GOST2012_256": false, "GOST2012_512": false}
	case "LICENSES":
		return map[string]any{"cryptoarm": map[string]any{"status": true, "type": "permament"}, "csp": map[string]any{"status": true}}
	case "PERSONALCERTIFICATES":
		list := []map[string]any{}
		for _, k := range keys {
			c := k.Certificate
			if c == nil || !k.HasPrivateKey {
				continue
			}
			sum := sha1.Sum(c.Raw)
			_, verr := c.Verify(x509.VerifyOptions{Roots: r.cfg.VerifyRoots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			list = append(list, map[string]any{
				"hash": strings.ToUpper(hex.EncodeToString(sum[:])), "rootCAMinComSvyaz": false,
				"status": verr == nil, "pubKeyAlg": pubKeyAlgOID(c), "subjectName": c.Subject.String(),
			})
		}
		return list
	}
	return nil
}

func pubKeyAlgOID(c *x509.Certificate) string {
	switch c.PublicKeyAlgorithm {
	case x509.RSA:
		return "1.2.840.113549.1.1.1"
	case x509.ECDSA:
		return "1.2.840.10045.2.1"
	case x509.Ed25519:
		return "1.3.101.112"
	}
	return c.PublicKeyAlgorithm.String()
}

// diagnostics answers the items asked for (diagnostics.information); the
// key listing is the host's question for a service not allowed yet.
func (j *job) diagnostics(ctx context.Context) error {
	params := map[string]any{"id": j.link.ID}
	var keys []sdk.Key
	for _, it := range j.params.Operation {
		it = strings.ToUpper(strings.TrimSpace(it))
		found := false
		for _, known := range diagItems {
			found = found || known == it
		}
		if !found {
			return jobErr(CodeInvalidParams, nil, "diagnostics: unknown item %q", clip(it))
		}
		if it == "PERSONALCERTIFICATES" && keys == nil {
			j.describe("list your certificates for diagnostics")
			var err error
			if keys, err = j.r.cfg.Keys.Keys(ctx, j.op(nil)); err != nil {
				return fmt.Errorf("list keys: %w", err)
			}
		}
		params[it] = j.r.diagItem(it, keys)
	}
	if len(params) == 1 {
		return nil // nothing asked, nothing sent (§7)
	}
	return j.send(ctx, j.link.Service, notify("diagnostics.information", params), nil)
}

// views maps startView's views to the dashboard's sections.
var views = map[string]string{
	"SIGN_AND_ENCRYPT": "journal", "CERTIFICATES_MY": "tokens", "CERTIFICATES_ADDRESS_BOOK": "tokens",
	"CERTIFICATES_CA": "tokens", "CERTIFICATES_ROOT": "tokens", "KEYS": "tokens", "ABOUT": "plugins",
	"DIAGNOSTIC_PROBLEM_PERSONAL_CERTIFICATES": "tokens",
}

// startView opens the agent's dashboard at the view's section; nothing is
// sent back (§8).
func (j *job) startView(ctx context.Context) error {
	v := strings.ToUpper(strings.TrimSpace(j.params.UIView))
	section, ok := views[v]
	if !ok {
		return jobErr(CodeInvalidParams, nil, "startView: unknown uiView %q", clip(v))
	}
	out, err := j.r.cfg.Command(ctx, j.r.cfg.Signet, "dashboard", "--print")
	if err != nil {
		return fmt.Errorf("startView: %w", err)
	}
	u := strings.TrimSpace(string(out))
	if !strings.HasPrefix(u, "https://") || strings.ContainsAny(u, " \n") {
		return fmt.Errorf("startView: unexpected dashboard URL")
	}
	_, err = j.r.cfg.Command(ctx, "xdg-open", u+"#"+section)
	return err
}

// mail downloads the job's files and opens a message with them in the
// person's mail client (xdg-email); the person sends it, or not.
func (j *job) mail(ctx context.Context) error {
	j.describe("attach " + plural(len(j.params.Props.Files), "file") + " to a new e-mail")
	items, err := j.download(ctx, false)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "signet-cryptoarm-mail-")
	if err != nil {
		return err
	}
	args := []string{"--utf8"}
	if s := j.params.Props.Subject; s != "" {
		args = append(args, "--subject", clipN(s, 200))
	}
	if b := j.params.Props.Body; b != "" {
		args = append(args, "--body", clipN(b, 4000))
	}
	for _, it := range items {
		p := filepath.Join(dir, it.Name)
		if err := os.WriteFile(p, it.Data, 0o600); err != nil {
			return err
		}
		args = append(args, "--attach", p)
	}
	if to := strings.TrimSpace(j.params.Props.To); to != "" {
		if strings.HasPrefix(to, "-") || strings.ContainsAny(to, " \n\r") {
			return jobErr(CodeInvalidParams, nil, "mail: bad recipient %q", clip(to))
		}
		args = append(args, to)
	}
	_, err = j.r.cfg.Command(ctx, "xdg-email", args...)
	return err
}
