// Package localca is Signet's local certificate authority: it issues the TLS
// certificates the agent serves on loopback — the plugins' listeners
// (E-IMZO's wss://127.0.0.1:64443, Cipher's
// https://local.cipher.kiev.ua:9091) and the consent dialog. [Open] creates
// the CA on first use in [Dir] of the data directory (an ECDSA P-256 key in
// ca.key, mode 0600, and a ten-year self-signed ca.crt) and loads it after
// that. The CA is name-constrained: it may vouch only for localhost, the
// names passed to Open, 127.0.0.1 and ::1, for server authentication only,
// so a person who trusts it in their browser trusts it for nothing else.
// [CheckName] refuses names that would cover other people's sites (com,
// co.uk, wildcards, IP addresses). When the names change or the CA nears its
// end of life, Open replaces it and sets [CA.Rotated]: the person runs
// `signet trust install` again (package agent/trust).
// Leaves live in memory only; [CA.Issue] renews them when a third of their
// 30 days remains. A *CA is safe for concurrent use.
//
//	ca, err := localca.Open(localca.Dir(dataDir), []string{"local.cipher.kiev.ua"}, localca.Options{})
//	if err != nil {
//		return err
//	}
//	if ca.Rotated {
//		log.Print("new local CA: run `signet trust install`")
//	}
//	tlsConfig, err := ca.TLSConfig([]string{"localhost", "127.0.0.1"})
//
// Design: docs/local-ca.md (the name constraints, who decides them, why the
// CA key is kept).
package localca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/signet-agent/signet/internal/atomicfile"
	"golang.org/x/net/publicsuffix"
)

// Dir is the CA directory inside the agent's data directory.
func Dir(dataDir string) string { return filepath.Join(dataDir, "ca") }

// File names inside the CA directory.
const (
	CertFile = "ca.crt"
	KeyFile  = "ca.key"
)

// Lifetimes.
const (
	DefaultCALifetime   = 10 * 365 * 24 * time.Hour
	DefaultLeafLifetime = 30 * 24 * time.Hour
)

// ErrNameNotPermitted is returned by Issue for a name outside the CA's name
// constraints.
var ErrNameNotPermitted = errors.New("name not permitted by the local CA's name constraints")

// ErrNameTooBroad is returned (wrapped) by CheckName, and so by Open, for a
// constraint name that would cover sites the agent has no business serving:
// a single-label name or a public suffix.
var ErrNameTooBroad = errors.New("name too broad for the local CA's name constraints")

// PermittedIPs are the only IP addresses the CA issues for.
var PermittedIPs = []net.IP{net.ParseIP("127.0.0.1").To4(), net.ParseIP("::1")}

// Options tune a CA; zero values mean the defaults.
type Options struct {
	CALifetime   time.Duration
	LeafLifetime time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// CA is the local certificate authority.
type CA struct {
	dir     string
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	opts    Options

	// Rotated is true when Open created a new CA that replaced an existing
	// one (new names or end of life): the trust stores need `signet trust
	// install` again. Created is true when Open created any new CA.
	Rotated bool
	Created bool

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// Open loads the CA from dir, creating it on first use. names are the DNS
// names the CA must be able to issue for; "localhost" is always included.
// Every name must pass CheckName. An existing CA whose permitted DNS names
// are not exactly these (or that is near its end of life) is replaced; see
// docs/local-ca.md.
func Open(dir string, names []string, opts Options) (*CA, error) {
	if opts.CALifetime <= 0 {
		opts.CALifetime = DefaultCALifetime
	}
	if opts.LeafLifetime <= 0 {
		opts.LeafLifetime = DefaultLeafLifetime
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	want, err := normaliseDNSNames(append([]string{"localhost"}, names...))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("protect CA directory: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lock CA directory: %w", err)
	}
	defer unlock()
	ca := &CA{dir: dir, opts: opts, leaves: map[string]*tls.Certificate{}}
	existing, err := ca.load()
	switch {
	case err == nil:
		// Keep using it unless its names differ from the wanted ones (a
		// name was added or removed, or it holds a name CheckName refuses)
		// or fewer than two leaf lifetimes remain.
		have := slices.Sorted(slices.Values(existing.cert.PermittedDNSDomains))
		if slices.Equal(have, want) && existing.cert.NotAfter.Sub(opts.Now()) > 2*opts.LeafLifetime {
			return existing, nil
		}
		ca.Rotated = true
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, err
	}
	if err := ca.create(want); err != nil {
		return nil, err
	}
	ca.Created = true
	return ca, nil
}

// Load loads the existing CA from dir without creating or rotating it. It
// returns an error wrapping os.ErrNotExist when there is no CA yet.
func Load(dir string, opts Options) (*CA, error) {
	if opts.LeafLifetime <= 0 {
		opts.LeafLifetime = DefaultLeafLifetime
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return (&CA{dir: dir, opts: opts}).load()
}

func (ca *CA) load() (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(ca.dir, CertFile))
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(ca.dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	fi, err := os.Stat(filepath.Join(ca.dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("stat CA key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("CA key %s is accessible to other users (mode %v); refusing to use it", filepath.Join(ca.dir, KeyFile), fi.Mode().Perm())
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("local CA files are not PEM; delete " + ca.dir + " to create a new CA")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, errors.New("parse CA key: not a PKCS#8 key") // never echo key material
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("CA key does not match the CA certificate; delete " + ca.dir + " to create a new CA")
	}
	out := &CA{dir: ca.dir, opts: ca.opts, cert: cert, certPEM: certPEM, key: key, leaves: map[string]*tls.Certificate{}}
	return out, nil
}

func (ca *CA) create(names []string) error {
	// Last line of defence: never sign constraints that cover other sites.
	for _, n := range names {
		if err := CheckName(n); err != nil {
			return err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	now := ca.opts.Now()
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization:       []string{"Signet local CA"},
			OrganizationalUnit: []string{userAtHost(host)},
			CommonName:         "Signet local CA " + serial.Text(16)[:8],
		},
		NotBefore:                   now.Add(-time.Hour),
		NotAfter:                    now.Add(ca.opts.CALifetime),
		KeyUsage:                    x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:                 []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid:       true,
		IsCA:                        true,
		MaxPathLenZero:              true,
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         names,
		PermittedIPRanges: []*net.IPNet{
			{IP: PermittedIPs[0], Mask: net.CIDRMask(32, 32)},
			{IP: PermittedIPs[1], Mask: net.CIDRMask(128, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("parse new CA certificate: %w", err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode CA key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// Key first: a crash between the two writes leaves a mismatched pair,
	// which load reports, rather than a certificate without its key.
	if err := atomicfile.Write(filepath.Join(ca.dir, KeyFile), keyPEM, 0o600); err != nil {
		return fmt.Errorf("write CA key: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(ca.dir, CertFile), certPEM, 0o644); err != nil {
		return fmt.Errorf("write CA certificate: %w", err)
	}
	ca.cert, ca.certPEM, ca.key = cert, certPEM, key
	return nil
}

func userAtHost(host string) string {
	u := os.Getenv("USER")
	if u == "" {
		u = fmt.Sprint(os.Getuid())
	}
	return u + "@" + host
}

func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("random serial: %w", err)
	}
	return s.SetBit(s, 127, 1), nil // fixed length, positive
}

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertificatePEM returns the CA certificate in PEM form.
func (ca *CA) CertificatePEM() []byte { return bytes.Clone(ca.certPEM) }

// CertFile returns the path of the CA certificate file.
func (ca *CA) CertFile() string { return filepath.Join(ca.dir, CertFile) }

// Fingerprint is the hex SHA-256 of the CA certificate.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert) }

// Fingerprint is the hex SHA-256 of a certificate's DER.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Permitted reports whether the CA may issue for name (a DNS name or an IP
// address).
func (ca *CA) Permitted(name string) bool {
	if ip := net.ParseIP(name); ip != nil {
		for _, p := range PermittedIPs {
			if p.Equal(ip) {
				return true
			}
		}
		return false
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if err := checkDNSName(name); err != nil {
		return false
	}
	for _, c := range ca.cert.PermittedDNSDomains {
		if name == c || strings.HasSuffix(name, "."+c) {
			return true
		}
	}
	return false
}

// Issue returns a leaf certificate (with its key) for names: DNS names and
// the loopback IPs. With no names it issues for localhost, 127.0.0.1 and ::1.
// A cached leaf is returned until a third of its lifetime remains, then a
// new one is issued. Names outside the constraints fail with
// ErrNameNotPermitted.
func (ca *CA) Issue(names []string) (tls.Certificate, error) {
	if len(names) == 0 {
		names = []string{"localhost", "127.0.0.1", "::1"}
	}
	var dns []string
	var ips []net.IP
	seen := map[string]bool{}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !ca.Permitted(n) {
				return tls.Certificate{}, fmt.Errorf("issue for %q: %w", n, ErrNameNotPermitted)
			}
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			if !seen[ip.String()] {
				seen[ip.String()] = true
				ips = append(ips, ip)
			}
			continue
		}
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if !ca.Permitted(n) {
			return tls.Certificate{}, fmt.Errorf("issue for %q: %w (add it to tls.names in the configuration, restart the agent and run `signet trust install`)", n, ErrNameNotPermitted)
		}
		if !seen[n] {
			seen[n] = true
			dns = append(dns, n)
		}
	}
	sort.Strings(dns)
	sort.Slice(ips, func(i, j int) bool { return ips[i].String() < ips[j].String() })
	keyParts := slices.Clone(dns)
	for _, ip := range ips {
		keyParts = append(keyParts, ip.String())
	}
	cacheKey := strings.Join(keyParts, ",")

	ca.mu.Lock()
	defer ca.mu.Unlock()
	now := ca.opts.Now()
	if c, ok := ca.leaves[cacheKey]; ok && c.Leaf.NotAfter.Sub(now) > ca.opts.LeafLifetime/3 {
		return *c, nil
	}
	c, err := ca.issue(dns, ips, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	ca.leaves[cacheKey] = c
	return *c, nil
}

func (ca *CA) issue(dns []string, ips []net.IP, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate leaf key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	cn := "localhost"
	if len(dns) > 0 {
		cn = dns[0]
	}
	notAfter := now.Add(ca.opts.LeafLifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Signet local"}, CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue leaf certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse leaf certificate: %w", err)
	}
	// Self-check against the constraints, as a browser will.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, fmt.Errorf("verify issued leaf: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: crypto.Signer(key), Leaf: leaf}, nil
}

// LeafPEM issues (or returns the cached) leaf for names in PEM form, for
// handing to a plugin process: the certificate chain (leaf, CA) and the
// PKCS#8 key. The key PEM is secret; the caller must not log it.
func (ca *CA) LeafPEM(names []string) (certPEM, keyPEM []byte, notAfter time.Time, err error) {
	c, err := ca.Issue(names)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("encode leaf key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	certPEM = append(certPEM, ca.certPEM...)
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
	return certPEM, keyPEM, c.Leaf.NotAfter, nil
}

// TLSConfig returns a server configuration that serves a leaf for names,
// renewing it transparently through Issue on new handshakes.
func (ca *CA) TLSConfig(names []string) (*tls.Config, error) {
	if _, err := ca.Issue(names); err != nil {
		return nil, err
	}
	names = slices.Clone(names)
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			c, err := ca.Issue(names)
			if err != nil {
				return nil, err
			}
			return &c, nil
		},
	}, nil
}

// Constraints returns a one-line description of the CA's name constraints:
// the permitted DNS names and IP ranges, as `signet trust install` shows
// them.
func Constraints(c *x509.Certificate) string {
	dns := slices.Sorted(slices.Values(c.PermittedDNSDomains))
	var ips []string
	for _, r := range c.PermittedIPRanges {
		ips = append(ips, r.String())
	}
	return fmt.Sprintf("DNS names %s (and their subdomains); IP ranges %s",
		strings.Join(dns, ", "), strings.Join(ips, ", "))
}

// CheckName reports whether name (lower case, no trailing dot) may be a
// permitted DNS name of the CA: a valid DNS name that is localhost or has
// at least two labels and is not itself a public suffix (ICANN or private
// section of the Public Suffix List: co.uk, kiev.ua, github.io). Wildcards,
// leading dots and IP addresses are refused as invalid DNS names (a
// constraint covers subdomains already; the IP ranges are fixed). A refused
// name's error wraps ErrNameTooBroad or names the syntax problem.
func CheckName(name string) error {
	if err := checkDNSName(name); err != nil {
		return err
	}
	if name == "localhost" {
		return nil
	}
	if !strings.Contains(name, ".") {
		return fmt.Errorf("%q is a single-label name (a top-level domain or a local network name): %w", name, ErrNameTooBroad)
	}
	if suffix, _ := publicsuffix.PublicSuffix(name); suffix == name {
		return fmt.Errorf("%q is a public suffix (it would cover every site registered under it): %w", name, ErrNameTooBroad)
	}
	return nil
}

func normaliseDNSNames(names []string) ([]string, error) {
	set := map[string]bool{}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if err := CheckName(n); err != nil {
			return nil, err
		}
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func checkDNSName(n string) error {
	if n == "" || len(n) > 253 || net.ParseIP(n) != nil {
		return fmt.Errorf("invalid DNS name %q for the local CA", n)
	}
	for _, l := range strings.Split(n, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("invalid DNS name %q for the local CA", n)
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("invalid DNS name %q for the local CA", n)
			}
		}
	}
	return nil
}
