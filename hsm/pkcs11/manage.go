package pkcs11

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/certs"
)

var (
	derOIDEd25519  = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	derNameEd25519 = append([]byte{0x13, 0x0c}, "edwards25519"...)
)

// GenerateKey creates a key pair on the token req.TokenURI names.
func (b *Backend) GenerateKey(ctx context.Context, req hsm.GenerateKeyRequest) (hsm.KeyInfo, error) {
	id := req.ID
	if len(id) == 0 {
		id = make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return hsm.KeyInfo{}, err
		}
	}
	kp, err := newKeyPairTemplate(req, id)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	check := func(s tokenState, _ *keyRef) error {
		if !s.supports(kp.mech) {
			return fmt.Errorf("token %q lacks key generation mechanism 0x%x: %w", s.tok.label, kp.mech, hsm.ErrUnsupported)
		}
		return nil
	}
	var tokURI string
	var tok *token
	err = b.withSession(ctx, operation{what: "generate key", uri: req.TokenURI, check: check}, func(s *session) error {
		tokURI = s.tok.uri
		tok = s.tok
		return b.generateKeyPair(s.h, kp)
	})
	if tok != nil {
		b.objectsChanged(tok) // even after a failure: a key pair may have been made
	}
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	return b.keyByID(ctx, tokURI, id)
}

// keyPairTemplate is what C_GenerateKeyPair is given for one key pair.
type keyPairTemplate struct {
	mech      uint
	params    [][]byte // CKA_EC_PARAMS to try, in order; nil for RSA
	pub, priv []*p11.Attribute
}

// newKeyPairTemplate builds the templates of the key pair req asks for,
// with CKA_ID id, or refuses an algorithm or size it does not make.
func newKeyPairTemplate(req hsm.GenerateKeyRequest, id []byte) (keyPairTemplate, error) {
	pub := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_ID, id),
	}
	priv := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_ID, id),
	}
	if req.Label != "" {
		pub = append(pub, p11.NewAttribute(p11.CKA_LABEL, req.Label))
		priv = append(priv, p11.NewAttribute(p11.CKA_LABEL, req.Label))
	}
	var mech uint
	var params [][]byte
	switch req.Algorithm {
	case hsm.RSA:
		bits := req.Bits
		if bits == 0 {
			bits = 2048
		}
		if bits < 2048 || bits > 8192 {
			return keyPairTemplate{}, fmt.Errorf("generate RSA-%d: %w", bits, hsm.ErrInvalidRequest)
		}
		mech = p11.CKM_RSA_PKCS_KEY_PAIR_GEN
		pub = append(pub, p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA),
			p11.NewAttribute(p11.CKA_MODULUS_BITS, bits),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
			p11.NewAttribute(p11.CKA_ENCRYPT, true))
		priv = append(priv, p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA), p11.NewAttribute(p11.CKA_DECRYPT, true))
	case hsm.ECDSA:
		var oid asn1.ObjectIdentifier
		switch req.Bits {
		case 0, 256:
			oid = oidP256
		case 384:
			oid = oidP384
		case 521:
			oid = oidP521
		default:
			return keyPairTemplate{}, fmt.Errorf("generate ECDSA P-%d: %w", req.Bits, hsm.ErrUnsupported)
		}
		der, _ := asn1.Marshal(oid)
		mech, params = p11.CKM_EC_KEY_PAIR_GEN, [][]byte{der}
		pub = append(pub, p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC))
		priv = append(priv, p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC))
	case hsm.Ed25519:
		mech, params = ckmECEdwardsKeyPairGen, [][]byte{derOIDEd25519, derNameEd25519}
		pub = append(pub, p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards))
		priv = append(priv, p11.NewAttribute(p11.CKA_KEY_TYPE, ckkECEdwards))
	default:
		return keyPairTemplate{}, fmt.Errorf("generate %q key: %w", req.Algorithm, hsm.ErrUnsupported)
	}
	return keyPairTemplate{mech: mech, params: params, pub: pub, priv: priv}, nil
}

// generateKeyPair runs C_GenerateKeyPair, trying each spelling of the EC
// parameters until the token takes one.
func (b *Backend) generateKeyPair(h p11.SessionHandle, kp keyPairTemplate) error {
	m := []*p11.Mechanism{p11.NewMechanism(kp.mech, nil)}
	if kp.params == nil {
		_, _, err := b.api.GenerateKeyPair(h, m, kp.pub, kp.priv)
		return err
	}
	var err error
	for _, p := range kp.params {
		_, _, err = b.api.GenerateKeyPair(h, m, append(kp.pub, p11.NewAttribute(p11.CKA_EC_PARAMS, p)), kp.priv)
		if err == nil || !isCode(err, p11.CKR_ATTRIBUTE_VALUE_INVALID, p11.CKR_CURVE_NOT_SUPPORTED, p11.CKR_DOMAIN_PARAMS_INVALID, p11.CKR_TEMPLATE_INCONSISTENT) {
			break
		}
	}
	return err
}

// keyByID lists the token and returns the KeyInfo with CKA_ID id.
func (b *Backend) keyByID(ctx context.Context, tokURI string, id []byte) (hsm.KeyInfo, error) {
	u, err := hsm.ParseURI(tokURI)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	s, err := b.findToken(u)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	keys, _, err := b.listToken(ctx, s)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	for _, k := range keys {
		if bytes.Equal(k.ID, id) && (k.HasPrivateKey || k.PublicKey != nil) {
			return k, nil
		}
	}
	return hsm.KeyInfo{}, fmt.Errorf("key id %x on token %q: %w", id, s.tok.label, hsm.ErrKeyNotFound)
}

// ImportCertificate stores req.Certificate next to its key (same CKA_ID),
// and the chain's CA certificates beside it.
func (b *Backend) ImportCertificate(ctx context.Context, req hsm.ImportCertificateRequest) (hsm.KeyInfo, error) {
	if req.Certificate == nil {
		return hsm.KeyInfo{}, fmt.Errorf("import certificate: no certificate: %w", hsm.ErrInvalidRequest)
	}
	where := req.KeyURI
	if where == "" {
		where = req.TokenURI
	}
	u, err := hsm.ParseURI(where)
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("import certificate: %w", err)
	}
	u.Wipe()
	s, err := b.findToken(u)
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("import certificate: %w", err)
	}
	keys, _, err := b.listToken(ctx, s)
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("import certificate: %w", err)
	}
	key, err := certificateKey(keys, req, u, s.tok.label)
	if err != nil {
		return hsm.KeyInfo{}, fmt.Errorf("import certificate: %w", err)
	}
	label := req.Label
	if label == "" {
		label = key.Label
	}
	err = b.withSession(ctx, operation{what: "import certificate", uri: s.tok.uri}, func(ses *session) error {
		return b.storeCerts(ses.h, req, key.ID, label)
	})
	// The cached listing and key handles of this token describe its keys
	// without the new certificates (some may be stored even on failure).
	b.objectsChanged(s.tok)
	if err != nil {
		return hsm.KeyInfo{}, err
	}
	return b.keyByID(ctx, s.tok.uri, key.ID)
}

// certificateKey finds among keys (the listing of token tokLabel) the key
// pair whose public key is req.Certificate's; with req.KeyURI set (parsed
// as u), only the key it names.
func certificateKey(keys []hsm.KeyInfo, req hsm.ImportCertificateRequest, u *hsm.URI, tokLabel string) (*hsm.KeyInfo, error) {
	for i := range keys {
		k := &keys[i]
		if k.PublicKey == nil || !k.HasPrivateKey {
			continue
		}
		if req.KeyURI != "" && !u.MatchesObject(k.Label, k.ID, hsm.ObjectPrivate) {
			continue
		}
		if certs.SamePublicKey(k.PublicKey, req.Certificate.PublicKey) {
			return k, nil
		}
		if req.KeyURI != "" {
			return nil, fmt.Errorf("its public key is not the key of %s: %w", u.String(), hsm.ErrInvalidRequest)
		}
	}
	return nil, fmt.Errorf("no key on token %q matches the certificate: %w", tokLabel, hsm.ErrKeyNotFound)
}

// storeCerts stores req.Certificate with the key's id and label, and the
// chain's certificates with their subject key ids (or a hash of their
// public keys) and common names.
func (b *Backend) storeCerts(h p11.SessionHandle, req hsm.ImportCertificateRequest, keyID []byte, label string) error {
	if err := b.storeCert(h, req.Certificate, keyID, label); err != nil {
		return err
	}
	for _, c := range req.Chain {
		id := c.SubjectKeyId
		if len(id) == 0 {
			sum := sha1.Sum(c.RawSubjectPublicKeyInfo)
			id = sum[:]
		}
		if err := b.storeCert(h, c, id, c.Subject.CommonName); err != nil {
			return err
		}
	}
	return nil
}

// storeCert creates a certificate object unless the same certificate is
// already on the token.
func (b *Backend) storeCert(h p11.SessionHandle, c *x509.Certificate, id []byte, label string) error {
	same, err := b.findObjects(h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_CERTIFICATE), p11.NewAttribute(p11.CKA_VALUE, c.Raw)})
	if err != nil {
		return err
	}
	if len(same) > 0 {
		return nil
	}
	serial, err := asn1.Marshal(c.SerialNumber)
	if err != nil {
		return err
	}
	_, err = b.api.CreateObject(h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_CERTIFICATE),
		p11.NewAttribute(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, false),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_SUBJECT, c.RawSubject),
		p11.NewAttribute(p11.CKA_ISSUER, c.RawIssuer),
		p11.NewAttribute(p11.CKA_SERIAL_NUMBER, serial),
		p11.NewAttribute(p11.CKA_VALUE, c.Raw),
	})
	return err
}

// Delete removes the objects uri names. A key URI (type=private, or no
// type) removes the private key, its public key and its certificate (same
// CKA_ID); type=cert or type=public removes only that object.
func (b *Backend) Delete(ctx context.Context, uri string) error {
	u, err := hsm.ParseURI(uri)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	u.Wipe()
	if len(u.ID) == 0 && u.Object == "" {
		return fmt.Errorf("delete %s: names no object: %w", u.String(), hsm.ErrInvalidRequest)
	}
	classes, err := deleteClasses(u)
	if err != nil {
		return fmt.Errorf("delete %s: %w", u.String(), err)
	}
	deleted := 0
	var tok *token
	err = b.withSession(ctx, operation{what: "delete", uri: uri}, func(s *session) error {
		tok = s.tok
		n, err := b.deleteObjects(s.h, u, classes)
		deleted += n
		return err
	})
	if tok != nil {
		b.objectsChanged(tok)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", u.String(), err)
	}
	if deleted == 0 {
		return fmt.Errorf("delete %s: %w", u.String(), hsm.ErrKeyNotFound)
	}
	return nil
}

// deleteClasses is the object classes a delete of u removes.
func deleteClasses(u *hsm.URI) ([]uint, error) {
	switch u.Type {
	case "", hsm.ObjectPrivate:
		return []uint{p11.CKO_PRIVATE_KEY, p11.CKO_PUBLIC_KEY, p11.CKO_CERTIFICATE}, nil
	case hsm.ObjectPublic:
		return []uint{p11.CKO_PUBLIC_KEY}, nil
	case hsm.ObjectCert:
		return []uint{p11.CKO_CERTIFICATE}, nil
	}
	return nil, hsm.ErrUnsupported
}

// deleteObjects destroys the objects of the classes that u names, and
// returns how many it destroyed (also on failure).
func (b *Backend) deleteObjects(h p11.SessionHandle, u *hsm.URI, classes []uint) (int, error) {
	id := u.ID
	if len(id) == 0 {
		var err error
		if id, err = b.idByLabel(h, u.Object); err != nil {
			return 0, err
		}
	}
	deleted := 0
	for _, class := range classes {
		tmpl := []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)}
		if len(id) > 0 {
			tmpl = append(tmpl, p11.NewAttribute(p11.CKA_ID, id))
		} else {
			tmpl = append(tmpl, p11.NewAttribute(p11.CKA_LABEL, u.Object))
		}
		if len(u.ID) > 0 && u.Object != "" && u.Type != "" && u.Type != hsm.ObjectPrivate {
			tmpl = append(tmpl, p11.NewAttribute(p11.CKA_LABEL, u.Object))
		}
		hs, err := b.findObjects(h, tmpl)
		if err != nil {
			return deleted, err
		}
		for _, o := range hs {
			if err := b.api.DestroyObject(h, o); err != nil {
				return deleted, err
			}
			deleted++
		}
	}
	return deleted, nil
}

// idByLabel returns the CKA_ID of the first object labelled label that has
// one, or nil.
func (b *Backend) idByLabel(h p11.SessionHandle, label string) ([]byte, error) {
	hs, err := b.findObjects(h, []*p11.Attribute{p11.NewAttribute(p11.CKA_LABEL, label)})
	if err != nil {
		return nil, err
	}
	for _, o := range hs {
		if a, err := b.attrs(h, o, p11.CKA_ID); err == nil && len(a[p11.CKA_ID]) > 0 {
			return a[p11.CKA_ID], nil
		}
	}
	return nil, nil
}
