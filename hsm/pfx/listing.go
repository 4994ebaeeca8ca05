package pfx

// Listing without a password: entries, token and key information, and the
// problems of the last listing.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"path/filepath"
	"strconv"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/gost"
)

// buildEntries names the file's keys from what the listing shows and fills
// in certificates and public keys from dec when the file was decrypted.
// If keys is non-nil it receives the index in dec.keys of each alias's key.
func buildEntries(l *listing, dec *decoded, keys map[string]int) []*entry {
	var ents []*entry
	used := map[string]bool{}
	uniq := func(a string) string {
		base, n := a, 2
		for used[a] {
			a = base + "-" + strconv.Itoa(n)
			n++
		}
		used[a] = true
		return a
	}
	for i, k := range l.keys {
		e := &entry{alias: uniq(derivedAlias(k, i)), label: k.friendlyName, id: k.localKeyID, key: true}
		if k.plain != nil {
			if s, ok := k.plain.(crypto.Signer); ok {
				e.plain, e.pub = s, s.Public()
			}
		}
		ents = append(ents, e)
	}
	if len(l.keys) == 0 && l.encrypted {
		// The key bags are encrypted too: name them by position.
		n := 1
		if dec != nil {
			n = len(dec.keys)
		}
		for i := 0; i < n; i++ {
			ents = append(ents, &entry{alias: uniq("key" + strconv.Itoa(i)), key: true})
		}
	}
	// Pair decrypted keys with entries: by localKeyId, friendlyName, then position.
	if dec != nil {
		taken := make([]bool, len(dec.keys))
		for i, e := range ents {
			j := -1
			for jj, dk := range dec.keys {
				if taken[jj] {
					continue
				}
				if (len(e.id) > 0 && string(dk.localKeyID) == string(e.id)) ||
					(e.label != "" && dk.friendlyName == e.label) {
					j = jj
					break
				}
			}
			if j < 0 && len(dec.keys) == len(ents) && !taken[i] {
				j = i
			}
			if j < 0 {
				continue
			}
			taken[j] = true
			dk := dec.keys[j]
			e.pub = dk.key.Public()
			if e.label == "" {
				e.label = dk.friendlyName
			}
			if keys != nil {
				keys[e.alias] = j
			}
		}
	}
	certs := make([]*x509.Certificate, 0, len(l.certs))
	for _, c := range l.certs {
		certs = append(certs, c.cert)
	}
	if dec != nil && len(dec.certs) > 0 {
		certs = dec.certs
	}
	for _, e := range ents {
		if e.pub != nil {
			e.cert, e.chain = leafAndChain(certs, e.pub)
			continue
		}
		// Locked: pair a visible certificate by localKeyId, or the single
		// key with the leaf of the visible certificates.
		for _, c := range l.certs {
			if len(e.id) > 0 && string(c.localKeyID) == string(e.id) {
				e.cert, e.chain = leafAndChain(certs, c.cert.PublicKey)
			}
		}
		if e.cert == nil && len(ents) == 1 && len(certs) > 0 {
			e.cert, e.chain = leafAndChain(certs, nil)
		}
		if e.cert != nil {
			e.pub = e.cert.PublicKey
		}
	}
	if len(ents) == 0 {
		// A file of certificates only: one entry per certificate.
		for i, c := range certs {
			name := ""
			if i < len(l.certs) {
				name = l.certs[i].friendlyName
			}
			a := name
			if a == "" {
				a = "cert" + strconv.Itoa(i)
			}
			ents = append(ents, &entry{alias: uniq(a), label: name, cert: c, pub: c.PublicKey})
		}
	}
	return ents
}

// copyEntries returns the entries for use outside f.mu (entries are
// replaced, never modified, once published).
func (f *file) snapshot() (ents []*entry, open bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*entry(nil), f.entries...), f.open
}

func (f *file) tokenInfo() hsm.TokenInfo {
	_, open := f.snapshot()
	return hsm.TokenInfo{
		URI:     f.uri,
		Backend: "pfx",
		Label:   filepath.Base(f.path),
		Model:   "PKCS#12 file",
		Flags: hsm.TokenFlags{
			LoginRequired: !open,
			PIN:           hsm.PINState{Retries: -1},
		},
	}
}

func (f *file) keyInfo(e *entry) hsm.KeyInfo {
	k := hsm.KeyInfo{
		URI:           KeyURI(f.path, e.alias),
		TokenURI:      f.uri,
		Label:         e.label,
		ID:            e.id,
		PublicKey:     e.pub,
		HasPrivateKey: e.key,
		CanSign:       e.key,
		Certificate:   e.cert,
		Chain:         e.chain,
	}
	if k.Label == "" && e.cert != nil {
		k.Label = e.cert.Subject.CommonName
	}
	if k.Label == "" {
		k.Label = e.alias
	}
	switch p := e.pub.(type) {
	case *rsa.PublicKey:
		k.Algorithm, k.Bits, k.CanDecrypt = hsm.RSA, p.N.BitLen(), e.key
	case *ecdsa.PublicKey:
		k.Algorithm, k.Bits = hsm.ECDSA, p.Curve.Params().BitSize
	case ed25519.PublicKey:
		k.Algorithm, k.Bits = hsm.Ed25519, 256
	case *gost.PublicKey:
		// The national name: "GOST R 34.10-2012 (256)", "O'zDSt 1092:2009", …
		k.Algorithm, k.Bits = hsm.KeyAlgorithm(p.Type.String()), 8*p.Curve.Size()
	}
	return k
}

// Tokens lists the key files found now. Files that cannot be read, and
// configured files or directories that are missing, are skipped and
// reported by Problems; they never fail the listing.
func (b *Backend) Tokens(ctx context.Context) ([]hsm.TokenInfo, error) {
	files := b.list()
	out := make([]hsm.TokenInfo, 0, len(files))
	for _, f := range files {
		out = append(out, f.tokenInfo())
	}
	return out, nil
}

// Keys lists every entry of every key file found now, without prompting.
// Unreadable files are skipped and reported by Problems.
func (b *Backend) Keys(ctx context.Context) ([]hsm.KeyInfo, error) {
	var out []hsm.KeyInfo
	for _, f := range b.list() {
		ents, _ := f.snapshot()
		for _, e := range ents {
			out = append(out, f.keyInfo(e))
		}
	}
	return out, nil
}

// list scans for key files, reads the changed ones and records what it
// could not read as the current problems.
func (b *Backend) list() []*file {
	paths, err := b.scan()
	var problems []string
	if err != nil {
		problems = append(problems, splitErr(err)...)
	}
	var files []*file
	for _, p := range paths {
		f, err := b.get(p)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		files = append(files, f)
	}
	b.mu.Lock()
	b.problems = problems
	var gone []*file
	present := map[string]bool{}
	for _, p := range paths {
		present[p] = true
	}
	for p, f := range b.known {
		if !present[p] {
			gone = append(gone, f)
		}
	}
	b.mu.Unlock()
	for _, f := range gone {
		f.refresh() // forgets the keys of a file that went away
	}
	return files
}

// Problems describes what the last listing skipped: unreadable or
// malformed files (naming the file and why), missing configured files and
// directories.
func (b *Backend) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

func splitErr(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, splitErr(e)...)
		}
		return out
	}
	return []string{err.Error()}
}
