package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/limitread"
)

// findKey returns the private key uri names. uri may be the exact URI from
// `signet keys`, an equivalent spelling, or a pkcs11: URI naming the key by
// fewer attributes (token and object label) as long as exactly one private
// key matches. A listing error of some backend does not hide the others.
func findKey(ctx context.Context, store *hsm.Store, uri string) (hsm.KeyInfo, error) {
	if uri == "" {
		return hsm.KeyInfo{}, usagef("--key is required (a key URI from `signet keys`)")
	}
	keys, listErr := store.Keys(ctx)
	var matches []hsm.KeyInfo
	for _, k := range keys {
		if k.HasPrivateKey && (k.URI == uri || hsm.SameURI(k.URI, uri) || samePFX(k.URI, uri)) {
			return k, nil
		}
	}
	if strings.HasPrefix(uri, "pkcs11:") {
		u, err := hsm.ParseURI(uri)
		if err != nil {
			return hsm.KeyInfo{}, fmt.Errorf("--key %q: %w", uri, err)
		}
		toks, _ := store.Tokens(ctx)
		byURI := map[string]hsm.TokenInfo{}
		for _, t := range toks {
			byURI[t.URI] = t
		}
		for _, k := range keys {
			t, ok := byURI[k.TokenURI]
			if k.HasPrivateKey && ok && u.MatchesToken(t) && u.MatchesObject(k.Label, k.ID, "private") {
				matches = append(matches, k)
			}
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		err := fmt.Errorf("no private key %s: %w", uri, hsm.ErrKeyNotFound)
		if listErr != nil {
			err = errors.Join(err, listErr)
		}
		return hsm.KeyInfo{}, err
	}
	var names []string
	for _, m := range matches {
		names = append(names, m.URI)
	}
	return hsm.KeyInfo{}, fmt.Errorf("%s matches %d keys; use one of:\n  %s", uri, len(matches), strings.Join(names, "\n  "))
}

// samePFX reports whether two file: URIs name the same PFX key; a URI
// without an alias names the file's key.
func samePFX(listed, given string) bool {
	p1, a1, err := pfx.ParseURI(listed)
	if err != nil {
		return false
	}
	p2, a2, err := pfx.ParseURI(given)
	if err != nil {
		return false
	}
	return p1 == p2 && (a1 == a2 || a2 == "")
}

// maxCertFile bounds certificate files.
const maxCertFile = 1 << 20

// readCerts reads certificates from a PEM file (any number of CERTIFICATE
// blocks) or a DER file (one certificate).
func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := limitread.File(path, maxCertFile)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) > 0 {
		return certs, nil
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("%s: neither PEM certificates nor a DER certificate: %w", path, err)
	}
	return []*x509.Certificate{c}, nil
}
