package trust

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/signet-agent/signet/agent/localca"
)

// InstalledFile, in the CA directory, is a copy of the CA certificate that
// `signet trust install` last put in the stores. Install compares the CA it
// is about to trust with it, so it can say when the name constraints the
// person trusts have changed (new or removed names).
const InstalledFile = "installed.crt"

// Change is how a CA compares with the one installed last.
type Change int

const (
	// FirstInstall: no CA was recorded as installed.
	FirstInstall Change = iota
	// Unchanged: the same CA certificate.
	Unchanged
	// SameConstraints: a new CA certificate (key, validity) with the same
	// name constraints.
	SameConstraints
	// ConstraintsChanged: the permitted DNS names or IP ranges differ.
	ConstraintsChanged
)

// CompareInstalled reports how ca differs from the CA recorded in caDir by
// RecordInstalled, and returns the recorded one (nil on FirstInstall).
func CompareInstalled(caDir string, ca *x509.Certificate) (Change, *x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(caDir, InstalledFile))
	if errors.Is(err, os.ErrNotExist) {
		return FirstInstall, nil, nil
	}
	if err != nil {
		return FirstInstall, nil, fmt.Errorf("read the record of the installed CA: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return FirstInstall, nil, fmt.Errorf("record of the installed CA %s is not PEM", filepath.Join(caDir, InstalledFile))
	}
	prev, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return FirstInstall, nil, fmt.Errorf("parse the record of the installed CA: %w", err)
	}
	switch {
	case prev.Equal(ca):
		return Unchanged, prev, nil
	case localca.Constraints(prev) == localca.Constraints(ca):
		return SameConstraints, prev, nil
	}
	return ConstraintsChanged, prev, nil
}

// RecordInstalled records ca as the CA installed last.
func RecordInstalled(caDir string, ca *x509.Certificate) error {
	tmp, err := os.CreateTemp(caDir, ".installed-*")
	if err != nil {
		return fmt.Errorf("record the installed CA: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(pemOf(ca)); err != nil {
		tmp.Close()
		return fmt.Errorf("record the installed CA: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("record the installed CA: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(caDir, InstalledFile)); err != nil {
		return fmt.Errorf("record the installed CA: %w", err)
	}
	return nil
}
