package cipher

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/signet-agent/signet/sdk"
)

// keyStoreMatches reports whether key lives in the key store a ticket's
// keyStorePath names: a PFX file path, a file: URI, or a pkcs11: token URI
// (or a prefix of the key's URI, e.g. "pkcs11:token=CI").
func keyStoreMatches(path string, k sdk.Key) bool {
	if isContainer(k.TokenURI) {
		// An uploaded container's key belongs to the ticket it was
		// uploaded to: only that ticket's key store (set by the upload,
		// never by a page's keyStorePath) names it.
		return path == k.TokenURI
	}
	if path == "" {
		return true
	}
	if strings.HasPrefix(path, "pkcs11:") {
		want := pkcs11Attrs(path)
		have := pkcs11Attrs(k.URI)
		for a, v := range pkcs11Attrs(k.TokenURI) {
			have[a] = v
		}
		for a, v := range want {
			if have[a] != v {
				return false
			}
		}
		return len(want) > 0
	}
	if strings.HasPrefix(path, "file:") {
		return k.TokenURI == path
	}
	u := url.URL{Scheme: "file", Path: path}
	return k.TokenURI == u.String() || k.TokenURI == "file://"+path
}

// pkcs11Attrs are the path attributes of a pkcs11: URI (RFC 7512), still
// percent-encoded; the query part is ignored.
func pkcs11Attrs(uri string) map[string]string {
	m := map[string]string{}
	rest, ok := strings.CutPrefix(uri, "pkcs11:")
	if !ok {
		return m
	}
	rest, _, _ = strings.Cut(rest, "?")
	for _, kv := range strings.Split(rest, ";") {
		if a, v, ok := strings.Cut(kv, "="); ok && a != "" {
			m[a] = v
		}
	}
	return m
}

// candidates lists the keys of keyStorePath (all when empty) that
// can sign and have a certificate, for a choice; none is ErrKeyNotFound.
func (s *Server) candidates(ctx context.Context, keyStorePath string, op sdk.Operation, decrypt bool) ([]string, error) {
	list := op
	list.ForChoice = true
	list.GrantUses, list.GrantID, list.OnGrant = 0, "", nil
	keys, err := s.cfg.Keys.Keys(ctx, list)
	if err != nil && len(keys) == 0 {
		return nil, err
	}
	var uris []string
	for _, k := range keys {
		if !k.HasPrivateKey || (!decrypt && !k.CanSign) || (decrypt && !k.CanDecrypt) || !keyStoreMatches(keyStorePath, k) {
			continue
		}
		uris = append(uris, k.URI)
	}
	if len(uris) == 0 {
		if keyStorePath != "" {
			return nil, badParam("keyStorePath %q names no key the agent's key store holds", keyStorePath)
		}
		return nil, sdk.ErrKeyNotFound
	}
	if len(uris) > sdk.MaxKeyChoices {
		uris = uris[:sdk.MaxKeyChoices]
	}
	return uris, nil
}

// chooseKey asks the person to pick one of the ticket's keys and allow op
// (one question; the returned op carries the choice's one-use grant).
func (s *Server) chooseKey(ctx context.Context, keyStorePath string, op sdk.Operation) (sdk.Key, sdk.Operation, error) {
	uris, err := s.candidates(ctx, keyStorePath, op, false)
	if err != nil {
		return sdk.Key{}, op, err
	}
	// A locked PFX file's key is listed without its certificate (the file
	// keeps it encrypted): offer it anyway when the page named the file.
	filter := sdk.KeyFilter{Certificate: !isFilePath(keyStorePath)}
	choice, err := s.cfg.Consent.ChooseKey(ctx, uris, filter, op)
	if err != nil {
		return sdk.Key{}, op, err
	}
	op.GrantID = choice.GrantID
	key := choice.Key
	if key.Certificate == nil {
		if key, err = s.unlock(ctx, key, op); err != nil {
			return sdk.Key{}, op, err
		}
		op.GrantID = "" // the choice's one use went on the unlocking
	}
	return key, op, nil
}

func isFilePath(p string) bool { return p != "" && !strings.HasPrefix(p, "pkcs11:") }

// unlock makes the host open a locked PFX file (it asks for the password)
// by signing a random challenge with its key, and returns the key as the
// key store knows it then, with its certificate. The challenge signature
// is checked against that certificate.
func (s *Server) unlock(ctx context.Context, key sdk.Key, op sdk.Operation) (sdk.Key, error) {
	challenge := make([]byte, 32)
	_, _ = rand.Read(challenge)
	digest := sha256.Sum256(challenge)
	op.Summary = "Open the key file to read its certificate (Cipher API)"
	op.RequestID = ""
	sig, err := s.cfg.Keys.Sign(ctx, key.URI, digest[:], crypto.SHA256, op)
	if err != nil {
		return key, err
	}
	op.GrantID = ""
	k, err := s.cfg.Keys.Key(ctx, key.URI, op)
	if err != nil {
		return key, err
	}
	if k.Certificate == nil {
		return key, fmt.Errorf("the key file holds no certificate for the key: %w", sdk.ErrKeyNotFound)
	}
	if err := checkSignature(k.Certificate, digest[:], sig); err != nil {
		return key, fmt.Errorf("the key does not match its certificate: %w", err)
	}
	return k, nil
}

// checkSignature verifies a SHA-256 digest signature with cert's key.
func checkSignature(cert *x509.Certificate, digest, sig []byte) error {
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("unsupported key type %T", cert.PublicKey)
}

// hostDecrypter is the host's RSA decryption as a crypto.Decrypter.
type hostDecrypter struct {
	ctx  context.Context
	ks   *sdk.KeyService
	key  sdk.Key
	op   sdk.Operation
	cert *x509.Certificate
}

func (d hostDecrypter) Public() crypto.PublicKey { return d.cert.PublicKey }

func (d hostDecrypter) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return d.ks.Decrypt(d.ctx, d.key.URI, msg, opts, d.op)
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
