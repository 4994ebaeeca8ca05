package cli

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/signet-agent/signet/hsm"
)

// TokenJSON is `signet tokens --json` output, one object per token.
type TokenJSON struct {
	URI            string `json:"uri"`
	Backend        string `json:"backend"`
	Module         string `json:"module,omitempty"`
	Label          string `json:"label"`
	Serial         string `json:"serial,omitempty"`
	Manufacturer   string `json:"manufacturer,omitempty"`
	Model          string `json:"model,omitempty"`
	LoginRequired  bool   `json:"login_required"`
	ProtectedAuth  bool   `json:"protected_auth_path,omitempty"`
	WriteProtected bool   `json:"write_protected,omitempty"`
	PINCountLow    bool   `json:"pin_count_low,omitempty"`
	PINFinalTry    bool   `json:"pin_final_try,omitempty"`
	PINLocked      bool   `json:"pin_locked,omitempty"`
}

// KeyJSON is `signet keys --json` output, one object per key or
// certificate.
type KeyJSON struct {
	URI                string     `json:"uri"`
	TokenURI           string     `json:"token_uri"`
	Label              string     `json:"label"`
	ID                 string     `json:"id,omitempty"` // hex
	Algorithm          string     `json:"algorithm,omitempty"`
	Bits               int        `json:"bits,omitempty"`
	HasPrivateKey      bool       `json:"has_private_key"`
	CanSign            bool       `json:"can_sign"`
	CanDecrypt         bool       `json:"can_decrypt"`
	AlwaysAuthenticate bool       `json:"always_authenticate,omitempty"`
	Certificate        *CertJSON  `json:"certificate,omitempty"`
	Chain              []CertJSON `json:"chain,omitempty"`
}

// CertJSON describes a certificate.
type CertJSON struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"` // hex
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	SHA256    string    `json:"sha256"` // fingerprint, hex
	PEM       string    `json:"pem"`
}

func tokenJSON(t hsm.TokenInfo) TokenJSON {
	return TokenJSON{
		URI: t.URI, Backend: t.Backend, Module: t.Module, Label: t.Label, Serial: t.Serial,
		Manufacturer: t.Manufacturer, Model: t.Model,
		LoginRequired: t.Flags.LoginRequired, ProtectedAuth: t.Flags.ProtectedAuthPath,
		WriteProtected: t.Flags.WriteProtected, PINCountLow: t.Flags.PIN.CountLow,
		PINFinalTry: t.Flags.PIN.FinalTry, PINLocked: t.Flags.PIN.Locked,
	}
}

func certJSON(c *x509.Certificate) CertJSON {
	fp := sha256.Sum256(c.Raw)
	return CertJSON{
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		Serial:    serialHex(c),
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
		SHA256:    hex.EncodeToString(fp[:]),
		PEM:       string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
	}
}

func serialHex(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	return fmt.Sprintf("%x", c.SerialNumber)
}

func keyJSON(k hsm.KeyInfo) KeyJSON {
	j := KeyJSON{
		URI: k.URI, TokenURI: k.TokenURI, Label: k.Label, Algorithm: string(k.Algorithm), Bits: k.Bits,
		HasPrivateKey: k.HasPrivateKey, CanSign: k.CanSign, CanDecrypt: k.CanDecrypt,
		AlwaysAuthenticate: k.AlwaysAuthenticate,
	}
	if len(k.ID) > 0 {
		j.ID = hex.EncodeToString(k.ID)
	}
	if k.Certificate != nil {
		c := certJSON(k.Certificate)
		j.Certificate = &c
	}
	for _, c := range k.Chain {
		j.Chain = append(j.Chain, certJSON(c))
	}
	return j
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func describeToken(w io.Writer, t hsm.TokenInfo) {
	fmt.Fprintf(w, "%s\n", t.URI)
	kind := t.Backend
	if t.Model != "" {
		kind += ", " + t.Model
	}
	fmt.Fprintf(w, "  label:   %s (%s)\n", t.Label, kind)
	if t.Manufacturer != "" || t.Serial != "" {
		fmt.Fprintf(w, "  maker:   %s, serial %s\n", t.Manufacturer, t.Serial)
	}
	if t.Module != "" {
		fmt.Fprintf(w, "  module:  %s\n", t.Module)
	}
	var flags []string
	if t.Flags.LoginRequired {
		if t.Backend == "pfx" {
			flags = append(flags, "password required")
		} else {
			flags = append(flags, "PIN required")
		}
	}
	if t.Flags.ProtectedAuthPath {
		flags = append(flags, "PIN pad")
	}
	if t.Flags.WriteProtected {
		flags = append(flags, "write-protected")
	}
	switch p := t.Flags.PIN; {
	case p.Locked:
		flags = append(flags, "PIN LOCKED")
	case p.FinalTry:
		flags = append(flags, "PIN on FINAL TRY")
	case p.CountLow:
		flags = append(flags, "PIN tries low")
	}
	if len(flags) > 0 {
		fmt.Fprintf(w, "  state:   %s\n", strings.Join(flags, ", "))
	}
}

func describeKey(w io.Writer, k hsm.KeyInfo) {
	fmt.Fprintf(w, "  %s\n", k.URI)
	what := "certificate only"
	if k.HasPrivateKey {
		var caps []string
		if k.CanSign {
			caps = append(caps, "sign")
		}
		if k.CanDecrypt {
			caps = append(caps, "decrypt")
		}
		what = "private key"
		if len(caps) > 0 {
			what += " (" + strings.Join(caps, ", ") + ")"
		}
		if k.AlwaysAuthenticate {
			what += ", PIN before each use"
		}
	}
	fmt.Fprintf(w, "    label:     %s\n", k.Label)
	fmt.Fprintf(w, "    kind:      %s\n", what)
	switch {
	case k.Algorithm != "" && k.Bits > 0:
		fmt.Fprintf(w, "    algorithm: %s %d\n", k.Algorithm, k.Bits)
	case k.Algorithm != "":
		fmt.Fprintf(w, "    algorithm: %s\n", k.Algorithm)
	default:
		fmt.Fprintf(w, "    algorithm: unknown until unlocked\n")
	}
	if len(k.ID) > 0 {
		fmt.Fprintf(w, "    id:        %s\n", hex.EncodeToString(k.ID))
	}
	c := k.Certificate
	if c == nil {
		if k.HasPrivateKey && k.Algorithm == "" {
			fmt.Fprintf(w, "    certificate: encrypted in the file; shown after the first use with the password\n")
		} else {
			fmt.Fprintf(w, "    certificate: none\n")
		}
		return
	}
	fmt.Fprintf(w, "    certificate:\n")
	fmt.Fprintf(w, "      subject:  %s\n", c.Subject)
	fmt.Fprintf(w, "      issuer:   %s\n", c.Issuer)
	fmt.Fprintf(w, "      serial:   %s\n", serialHex(c))
	valid := ""
	now := time.Now()
	switch {
	case now.After(c.NotAfter):
		valid = "  EXPIRED"
	case now.Before(c.NotBefore):
		valid = "  NOT YET VALID"
	}
	fmt.Fprintf(w, "      valid:    %s to %s%s\n", c.NotBefore.UTC().Format(time.DateTime), c.NotAfter.UTC().Format(time.DateTime+" MST"), valid)
	for i, cc := range k.Chain {
		fmt.Fprintf(w, "      chain[%d]: %s\n", i, cc.Subject)
	}
}

// sortKeys orders keys by token, then private keys first, then label.
func sortKeys(keys []hsm.KeyInfo) {
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.TokenURI != b.TokenURI {
			return a.TokenURI < b.TokenURI
		}
		if a.HasPrivateKey != b.HasPrivateKey {
			return a.HasPrivateKey
		}
		return a.Label < b.Label
	})
}
