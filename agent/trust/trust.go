// Package trust installs the local CA (package agent/localca) into the trust
// stores that browsers and TLS libraries read, removes it, and reports where
// it is trusted: what `signet trust install | uninstall | status` does.
// [DefaultStores] finds the system store ([SystemStore]: the distribution's
// anchor directory and update command, through sudo when not root) and the
// user's NSS databases ([NSSStore]: Chromium's ~/.pki/nssdb and every Firefox
// profile, through certutil). Installing first removes any older Signet CA;
// uninstalling removes every Signet CA, so it also works after the data
// directory is gone. [RecordInstalled] and [CompareInstalled] tell the next
// install whether the name constraints it is about to trust changed. macOS
// and Windows stores are not supported.
//
//	stores, err := trust.DefaultStores()
//	if err != nil {
//		log.Print(err) // a store it could not find (ErrNoSystemStore); the others are returned
//	}
//	if err := trust.InstallAll(stores, ca.Certificate()); err != nil {
//		return err // one error per store that failed
//	}
//	for _, st := range trust.StatusAll(stores, ca.Certificate()) {
//		fmt.Println(st.Store, st.Location, st.Trusted, st.Detail)
//	}
//
// Design: docs/trust-stores.md (which stores, how a CA is named in them, why
// the system tools are called directly).
package trust

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// NicknamePrefix starts the NSS nickname of every Signet CA.
const NicknamePrefix = "Signet local CA"

// DefaultFileName is the system-store file name of the Signet CA.
const DefaultFileName = "signet-local-ca.crt"

// Status is whether one store trusts the CA.
type Status struct {
	Store    string // human name: "system (Debian)", "Chromium NSS", "Firefox profile x"
	Location string // file or database path
	Trusted  bool
	// Detail explains a false Trusted ("not installed", "certutil not
	// found", "file present but the bundle was not regenerated", …).
	Detail string
}

// Store is one trust store.
type Store interface {
	// Name is a human name for messages.
	Name() string
	// Install adds ca as a trusted TLS server root, replacing older Signet
	// CAs.
	Install(ca *x509.Certificate) error
	// Uninstall removes every Signet CA.
	Uninstall() error
	// Status reports whether ca is trusted. ca may be nil (no CA yet).
	Status(ca *x509.Certificate) Status
}

// Nickname is the NSS nickname of ca.
func Nickname(ca *x509.Certificate) string {
	sum := sha256.Sum256(ca.Raw)
	return NicknamePrefix + " " + hex.EncodeToString(sum[:4])
}

func pemOf(ca *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
}

// runner runs commands, through sudo when asked.
type runner struct{ sudo bool }

func (r runner) run(name string, args ...string) ([]byte, error) {
	if r.sudo {
		args = append([]string{"--", name}, args...)
		name = "sudo"
	}
	cmd := exec.Command(name, args...)
	cmd.Stdin = os.Stdin // sudo may ask for a password
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// SystemStore is the operating system's trust store.
type SystemStore struct {
	// Layout names the distribution family, for messages.
	Layout string
	// AnchorDir receives the CA file; FileName is its name.
	AnchorDir string
	FileName  string
	// Update regenerates the bundle after a change.
	Update []string
	// Bundle is the generated file TLS libraries read; Status looks for the
	// CA in it.
	Bundle string
	// Sudo runs the writes and Update through sudo (not root).
	Sudo bool
	// LinkDir is where Update makes symlinks to the CA file (Debian:
	// /etc/ssl/certs, NAME.pem and HASH.N). Debian's update-ca-certificates
	// leaves them dangling when a local certificate is removed, so
	// Uninstall removes them itself.
	LinkDir string
}

var systemLayouts = []SystemStore{
	{Layout: "Debian", AnchorDir: "/usr/local/share/ca-certificates", Update: []string{"update-ca-certificates"}, Bundle: "/etc/ssl/certs/ca-certificates.crt", LinkDir: "/etc/ssl/certs"},
	{Layout: "Fedora/RHEL", AnchorDir: "/etc/pki/ca-trust/source/anchors", Update: []string{"update-ca-trust", "extract"}, Bundle: "/etc/pki/tls/certs/ca-bundle.crt"},
	{Layout: "Arch", AnchorDir: "/etc/ca-certificates/trust-source/anchors", Update: []string{"trust", "extract-compat"}, Bundle: "/etc/ssl/certs/ca-certificates.crt"},
	{Layout: "openSUSE", AnchorDir: "/usr/share/pki/trust/anchors", Update: []string{"update-ca-certificates"}, Bundle: "/etc/ssl/ca-bundle.pem"},
}

// ErrNoSystemStore is returned by DetectSystem on an unsupported system.
var ErrNoSystemStore = errors.New("no supported system trust store found")

// DetectSystem finds the system store layout of this machine, trying in
// order:
//
//   - Debian, Ubuntu, Alpine: /usr/local/share/ca-certificates, update-ca-certificates
//   - Fedora, RHEL, CentOS: /etc/pki/ca-trust/source/anchors, update-ca-trust extract
//   - Arch: /etc/ca-certificates/trust-source/anchors, trust extract-compat
//   - openSUSE: /usr/share/pki/trust/anchors, update-ca-certificates
//
// A layout is chosen when its anchor directory exists and its update command
// is in PATH; otherwise DetectSystem returns [ErrNoSystemStore]. Writing
// there needs root: when not root, the store runs its commands through sudo.
func DetectSystem() (*SystemStore, error) {
	for _, l := range systemLayouts {
		if fi, err := os.Stat(l.AnchorDir); err != nil || !fi.IsDir() {
			continue
		}
		if _, err := exec.LookPath(l.Update[0]); err != nil {
			continue
		}
		s := l
		s.FileName = DefaultFileName
		s.Sudo = os.Geteuid() != 0
		return &s, nil
	}
	return nil, ErrNoSystemStore
}

// Name implements Store.
func (s *SystemStore) Name() string { return "system (" + s.Layout + ")" }

func (s *SystemStore) path() string { return filepath.Join(s.AnchorDir, s.FileName) }

// Install implements Store.
func (s *SystemStore) Install(ca *x509.Certificate) error {
	r := runner{sudo: s.Sudo}
	if s.Sudo {
		tmp, err := os.CreateTemp("", "signet-ca-*.crt")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		tmp.Write(pemOf(ca))
		tmp.Close()
		if _, err := r.run("install", "-m", "0644", tmp.Name(), s.path()); err != nil {
			return fmt.Errorf("%s: %w", s.Name(), err)
		}
	} else if err := os.WriteFile(s.path(), pemOf(ca), 0o644); err != nil {
		return fmt.Errorf("%s: write %s: %w", s.Name(), s.path(), err)
	}
	if _, err := r.run(s.Update[0], s.Update[1:]...); err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	return nil
}

// Uninstall implements Store.
func (s *SystemStore) Uninstall() error {
	if _, err := os.Stat(s.path()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	r := runner{sudo: s.Sudo}
	if s.Sudo {
		if _, err := r.run("rm", "-f", s.path()); err != nil {
			return fmt.Errorf("%s: %w", s.Name(), err)
		}
	} else if err := os.Remove(s.path()); err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	if err := s.removeLinks(r); err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	if _, err := r.run(s.Update[0], s.Update[1:]...); err != nil {
		return fmt.Errorf("%s: %w", s.Name(), err)
	}
	return nil
}

// removeLinks removes the symlinks in LinkDir that point to the CA file,
// and the hash links that point to those.
func (s *SystemStore) removeLinks(r runner) error {
	if s.LinkDir == "" {
		return nil
	}
	entries, err := os.ReadDir(s.LinkDir)
	if err != nil {
		return nil // nothing to clean
	}
	linkNames := map[string]bool{}
	var rm []string
	for pass := 0; pass < 2; pass++ { // NAME.pem first, then HASH.N -> NAME.pem
		for _, e := range entries {
			if e.Type()&os.ModeSymlink == 0 {
				continue
			}
			p := filepath.Join(s.LinkDir, e.Name())
			target, err := os.Readlink(p)
			if err != nil || linkNames[e.Name()] {
				continue
			}
			if target == s.path() || linkNames[target] || linkNames[filepath.Base(target)] && filepath.Dir(target) == s.LinkDir {
				linkNames[e.Name()] = true
				rm = append(rm, p)
			}
		}
	}
	if len(rm) == 0 {
		return nil
	}
	if s.Sudo {
		_, err := r.run("rm", append([]string{"-f"}, rm...)...)
		return err
	}
	for _, p := range rm {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Status implements Store: trusted means the CA is in the generated bundle.
func (s *SystemStore) Status(ca *x509.Certificate) Status {
	st := Status{Store: s.Name(), Location: s.path()}
	if ca == nil {
		st.Detail = "no local CA yet"
		return st
	}
	inBundle, err := bundleHas(s.Bundle, ca)
	if err != nil {
		st.Detail = err.Error()
		return st
	}
	installed := false
	if b, err := os.ReadFile(s.path()); err == nil {
		installed = bytes.Equal(bytes.TrimSpace(b), bytes.TrimSpace(pemOf(ca)))
	}
	switch {
	case inBundle:
		st.Trusted = true
		if !installed {
			st.Detail = "in " + s.Bundle + " but not in " + s.path()
		}
	case installed:
		st.Detail = "file present but " + s.Bundle + " was not regenerated; run " + strings.Join(s.Update, " ")
	default:
		st.Detail = "not installed"
	}
	return st
}

// bundleHas reports whether the PEM bundle file contains ca.
func bundleHas(bundle string, ca *x509.Certificate) (bool, error) {
	data, err := os.ReadFile(bundle)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", bundle, err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false, nil
		}
		if b.Type == "CERTIFICATE" && bytes.Equal(b.Bytes, ca.Raw) {
			return true, nil
		}
	}
}

// NSSStore is one NSS certificate database.
type NSSStore struct {
	// Label is the human name ("Chromium NSS", "Firefox profile x").
	Label string
	// Dir is the database directory.
	Dir string
	// Create makes an empty database (empty password) if Dir has none.
	Create bool
	// Certutil is the certutil binary ("" finds it in PATH).
	Certutil string
}

// Name implements Store.
func (n *NSSStore) Name() string { return n.Label }

func (n *NSSStore) certutil() (string, error) {
	if n.Certutil != "" {
		return n.Certutil, nil
	}
	p, err := exec.LookPath("certutil")
	if err != nil {
		return "", errors.New("certutil not found (install libnss3-tools)")
	}
	return p, nil
}

// db returns the certutil -d argument, or "" when there is no database.
func (n *NSSStore) db() string {
	if _, err := os.Stat(filepath.Join(n.Dir, "cert9.db")); err == nil {
		return "sql:" + n.Dir
	}
	if _, err := os.Stat(filepath.Join(n.Dir, "cert8.db")); err == nil {
		return "dbm:" + n.Dir
	}
	return ""
}

// nicknames lists the Signet CA nicknames in the database with their trust
// attributes.
func (n *NSSStore) nicknames(certutil, db string) (map[string]string, error) {
	out, err := runner{}.run(certutil, "-L", "-d", db)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Label, err)
	}
	found := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if !strings.HasPrefix(line, NicknamePrefix) {
			continue
		}
		i := strings.LastIndexAny(line, " \t")
		if i < 0 {
			continue
		}
		found[strings.TrimSpace(line[:i])] = line[i+1:]
	}
	return found, nil
}

// Install implements Store.
func (n *NSSStore) Install(ca *x509.Certificate) error {
	certutil, err := n.certutil()
	if err != nil {
		return fmt.Errorf("%s: %w", n.Label, err)
	}
	db := n.db()
	if db == "" {
		if !n.Create {
			return fmt.Errorf("%s: no NSS database in %s", n.Label, n.Dir)
		}
		if err := os.MkdirAll(n.Dir, 0o700); err != nil {
			return fmt.Errorf("%s: %w", n.Label, err)
		}
		if _, err := (runner{}).run(certutil, "-N", "-d", "sql:"+n.Dir, "--empty-password"); err != nil {
			return fmt.Errorf("%s: create database: %w", n.Label, err)
		}
		db = "sql:" + n.Dir
	}
	if err := n.removeSignet(certutil, db, Nickname(ca)); err != nil {
		return err
	}
	tmp, err := os.CreateTemp("", "signet-ca-*.crt")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	tmp.Write(pemOf(ca))
	tmp.Close()
	if _, err := (runner{}).run(certutil, "-A", "-d", db, "-t", "C,,", "-n", Nickname(ca), "-i", tmp.Name()); err != nil {
		return fmt.Errorf("%s: %w", n.Label, err)
	}
	return nil
}

// removeSignet deletes every Signet CA except keep.
func (n *NSSStore) removeSignet(certutil, db, keep string) error {
	nicks, err := n.nicknames(certutil, db)
	if err != nil {
		return err
	}
	for nick := range nicks {
		if nick == keep {
			continue
		}
		// A nickname can carry several certificates; delete until gone.
		for i := 0; i < 16; i++ {
			if _, err := (runner{}).run(certutil, "-D", "-d", db, "-n", nick); err != nil {
				break
			}
		}
	}
	return nil
}

// Uninstall implements Store.
func (n *NSSStore) Uninstall() error {
	db := n.db()
	if db == "" {
		return nil
	}
	certutil, err := n.certutil()
	if err != nil {
		return fmt.Errorf("%s: %w", n.Label, err)
	}
	if err := n.removeSignet(certutil, db, ""); err != nil {
		return err
	}
	if nicks, err := n.nicknames(certutil, db); err == nil && len(nicks) > 0 {
		return fmt.Errorf("%s: could not remove %d Signet CA(s)", n.Label, len(nicks))
	}
	return nil
}

// Status implements Store: trusted means the CA's nickname is present with
// the SSL trust flag C (trusted CA for TLS servers).
func (n *NSSStore) Status(ca *x509.Certificate) Status {
	st := Status{Store: n.Label, Location: n.Dir}
	if ca == nil {
		st.Detail = "no local CA yet"
		return st
	}
	db := n.db()
	if db == "" {
		st.Detail = "no NSS database"
		return st
	}
	certutil, err := n.certutil()
	if err != nil {
		st.Detail = err.Error()
		return st
	}
	nicks, err := n.nicknames(certutil, db)
	if err != nil {
		st.Detail = err.Error()
		return st
	}
	flags, ok := nicks[Nickname(ca)]
	switch {
	case !ok && len(nicks) > 0:
		st.Detail = "only an older Signet CA is installed"
	case !ok:
		st.Detail = "not installed"
	case !strings.Contains(strings.SplitN(flags, ",", 2)[0], "C"):
		st.Detail = "installed without TLS trust (flags " + flags + ")"
	default:
		// Make sure the entry is this certificate, not another with the
		// same nickname.
		out, err := (runner{}).run(certutil, "-L", "-d", db, "-n", Nickname(ca), "-a")
		if err != nil {
			st.Detail = err.Error()
			return st
		}
		for rest := out; ; {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				st.Detail = "a different certificate has this CA's nickname"
				return st
			}
			if bytes.Equal(b.Bytes, ca.Raw) {
				st.Trusted = true
				return st
			}
		}
	}
	return st
}

// NSSDatabases returns the NSS databases of the user whose home is home:
// Chromium's ~/.pki/nssdb (created on install if missing) and every Firefox
// profile that has a database.
func NSSDatabases(home string) []Store {
	stores := []Store{&NSSStore{Label: "Chromium/Chrome NSS", Dir: filepath.Join(home, ".pki", "nssdb"), Create: true}}
	for _, root := range []string{
		filepath.Join(home, ".mozilla", "firefox"),
		filepath.Join(home, "snap", "firefox", "common", ".mozilla", "firefox"),
	} {
		entries, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(root, e.Name())
			if _, err := os.Stat(filepath.Join(dir, "cert9.db")); err != nil {
				if _, err := os.Stat(filepath.Join(dir, "cert8.db")); err != nil {
					continue
				}
			}
			stores = append(stores, &NSSStore{Label: "Firefox profile " + e.Name(), Dir: dir})
		}
	}
	return stores
}

// DefaultStores are the system store (when supported) and the NSS
// databases of the current user.
func DefaultStores() ([]Store, error) {
	var stores []Store
	var errs []error
	if s, err := DetectSystem(); err == nil {
		stores = append(stores, s)
	} else {
		errs = append(errs, err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		errs = append(errs, fmt.Errorf("find home directory: %w", err))
	} else {
		stores = append(stores, NSSDatabases(home)...)
	}
	return stores, errors.Join(errs...)
}

// InstallAll installs ca into every store; it returns one error per store
// that failed, joined.
func InstallAll(stores []Store, ca *x509.Certificate) error {
	var errs []error
	for _, s := range stores {
		if err := s.Install(ca); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// UninstallAll removes every Signet CA from every store.
func UninstallAll(stores []Store) error {
	var errs []error
	for _, s := range stores {
		if err := s.Uninstall(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StatusAll reports every store.
func StatusAll(stores []Store, ca *x509.Certificate) []Status {
	out := make([]Status, 0, len(stores))
	for _, s := range stores {
		out = append(out, s.Status(ca))
	}
	return out
}
