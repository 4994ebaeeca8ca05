package softhsmtest

import (
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Demo names and secrets. They are demo values, printed in README.md.
const (
	DemoTokenLabel  = "signet-demo"
	DemoUserPIN     = "1234"
	DemoSOPIN       = "5678"
	DemoPFXPassword = "demo"
)

// DemoKeys are the keys the demo puts on its token.
var DemoKeys = []KeySpec{
	{Label: "demo-rsa2048", ID: []byte{0x01}, Type: RSA2048},
	{Label: "demo-ecdsa-p256", ID: []byte{0x02}, Type: ECP256},
}

// DemoResult says what FillDemo made.
type DemoResult struct {
	Keys    []*Key // empty when the token already had keys
	PFXPath string
	// EIMZOPath is an E-IMZO-style key file (friendlyName alias, Uzbek
	// subject, password DemoPFXPassword) in dir/eimzo/DSKEYS.
	EIMZOPath string
	Skipped   []string // what existed already and was left alone
}

// FillDemo fills tok with DemoKeys, each with a certificate from a new
// "Signet Demo" PKI, and writes a PFX file (modern encoding, password
// DemoPFXPassword) with a software RSA key, its certificate and the chain to
// dir/pfx/demo.pfx, and an E-IMZO-style key file (WriteEIMZOPFX, same
// password) to dir/eimzo/DSKEYS/DS312345678.pfx. The CA certificates go to dir/pki/. A token that has a
// private key already, or a PFX file that exists, is left alone, so running
// it twice is harmless.
func FillDemo(dir string, tok *Token) (*DemoResult, error) {
	res := &DemoResult{
		PFXPath:   filepath.Join(dir, "pfx", "demo.pfx"),
		EIMZOPath: filepath.Join(dir, "eimzo", "DSKEYS", "DS"+EIMZOIndividual.UID+".pfx"),
	}
	pki, err := NewPKI("Signet Demo")
	if err != nil {
		return nil, err
	}
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	for name, c := range map[string][]byte{"root.pem": pki.Root.Raw, "intermediate.pem": pki.Intermediate.Raw} {
		path := filepath.Join(pkiDir, name)
		if _, err := os.Stat(path); err == nil {
			continue // keep the CA of the first run; the token certificates chain to it
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c}), 0o644); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}

	list, err := tok.ListObjects()
	if err != nil {
		return nil, err
	}
	if strings.Contains(list, "Private Key Object") {
		res.Skipped = append(res.Skipped, fmt.Sprintf("token %q has keys already", tok.Label))
	} else {
		subjects := map[string]string{"demo-rsa2048": "Signet Demo RSA", "demo-ecdsa-p256": "Signet Demo ECDSA"}
		for _, spec := range DemoKeys {
			k, err := tok.AddKeyWithCert(pki, spec, IssueOptions{
				Subject:        pkix.Name{CommonName: subjects[spec.Label], Organization: []string{"Signet Demo"}, Country: []string{"UZ"}},
				EmailAddresses: []string{"demo@signet.example"},
			})
			if err != nil {
				return nil, fmt.Errorf("demo: %w", err)
			}
			res.Keys = append(res.Keys, k)
		}
	}

	if _, err := os.Stat(res.PFXPath); err == nil {
		res.Skipped = append(res.Skipped, res.PFXPath+" exists already")
	} else {
		sk, err := pki.NewSoftwareKey(RSA2048, IssueOptions{
			Subject:        pkix.Name{CommonName: "Signet Demo PFX", Organization: []string{"Signet Demo"}, Country: []string{"UZ"}},
			EmailAddresses: []string{"demo@signet.example"},
		})
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		if err := sk.WritePFX(res.PFXPath, DemoPFXPassword, Modern); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}

	if _, err := os.Stat(res.EIMZOPath); err == nil {
		res.Skipped = append(res.Skipped, res.EIMZOPath+" exists already")
		return res, nil
	}
	ek, err := pki.NewEIMZOKey(ECP256, EIMZOIndividual, IssueOptions{})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := WriteEIMZOPFX(res.EIMZOPath, ek, EIMZOPFX{
		Alias: EIMZOIndividual.Alias(ek.Certificate), Password: DemoPFXPassword, PlainCertificates: true,
	}); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return res, nil
}
