package cryptoarm

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SPKIPin is the hex SHA-256 of cert's SubjectPublicKeyInfo: what a trusted
// service is remembered by (a renewed certificate with the same key stays
// trusted; a new key asks again).
func SPKIPin(cert *x509.Certificate) string {
	s := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(s[:])
}

// Fingerprint is the hex SHA-256 of cert's DER, as the dialog shows it.
func Fingerprint(cert *x509.Certificate) string {
	s := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(s[:])
}

// TrustedService is one service the person trusted.
type TrustedService struct {
	Origin      string    `json:"origin"`
	Pin         string    `json:"spki_sha256"` // "" for loopback http
	Subject     string    `json:"subject,omitempty"`
	Fingerprint string    `json:"sha256,omitempty"`
	Trusted     time.Time `json:"trusted"`
}

// MaxTrusted bounds the trusted services remembered.
const MaxTrusted = 1000

// TrustStore remembers the trusted services in one JSON file (mode 0600) in
// the plugin's state directory. It is safe for concurrent use.
type TrustStore struct {
	path string
	mu   sync.Mutex
}

// TrustFile is the store's file name in the state directory.
const TrustFile = "trusted-services.json"

// NewTrustStore uses dir/TrustFile; dir is created (0700) when missing.
func NewTrustStore(dir string) (*TrustStore, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("state directory %q is not absolute", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return &TrustStore{path: filepath.Join(dir, TrustFile)}, nil
}

func (s *TrustStore) load() (map[string]TrustedService, error) {
	m := map[string]TrustedService{}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trusted services: %w", err)
	}
	var list []TrustedService
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("trusted services %s: %w", s.path, err)
	}
	for _, t := range list {
		m[t.Origin] = t
	}
	return m, nil
}

// Lookup returns the remembered entry of origin.
func (s *TrustStore) Lookup(origin string) (TrustedService, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.load()
	if err != nil {
		return TrustedService{}, false, err
	}
	t, ok := m[origin]
	return t, ok, nil
}

// Remember records t, replacing the origin's earlier entry.
func (s *TrustStore) Remember(t TrustedService) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.load()
	if err != nil {
		return err
	}
	if _, had := m[t.Origin]; !had && len(m) >= MaxTrusted {
		return fmt.Errorf("trusted services: at most %d", MaxTrusted)
	}
	m[t.Origin] = t
	list := make([]TrustedService, 0, len(m))
	for _, v := range m {
		list = append(list, v)
	}
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".trusted-*")
	if err != nil {
		return fmt.Errorf("trusted services: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("trusted services: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("trusted services: %w", err)
	}
	return os.Rename(tmp.Name(), s.path)
}
