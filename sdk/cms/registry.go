package cms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	_ "crypto/sha1" // registered for explicit SHA-1 requests and legacy input
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// ErrUnsupportedAlgorithm is returned (wrapped) for a digest or signature
// algorithm the registry in use does not know.
var ErrUnsupportedAlgorithm = errors.New("cms: unsupported algorithm")

// DigestAlgorithm is a registry entry for a message digest.
type DigestAlgorithm struct {
	Name string
	OID  asn1.ObjectIdentifier
	// Hash is the crypto.Hash value, or 0 for digests outside the standard
	// library (GOST, O'zDSt), which then must set New.
	Hash crypto.Hash
	// New returns a fresh hash; nil means Hash.New.
	New func() hash.Hash
	// NullParameters writes the AlgorithmIdentifier with NULL parameters
	// (as the GOST and O'zDSt implementations do) instead of none.
	NullParameters bool
}

func (d *DigestAlgorithm) newHash() hash.Hash {
	if d.New != nil {
		return d.New()
	}
	return d.Hash.New()
}

// identifier is the AlgorithmIdentifier written for this digest (RFC 5754:
// parameters absent; NULL for the entries that ask for it).
func (d *DigestAlgorithm) identifier() pkix.AlgorithmIdentifier {
	if d.NullParameters {
		return pkix.AlgorithmIdentifier{Algorithm: d.OID, Parameters: asn1NULL}
	}
	return pkix.AlgorithmIdentifier{Algorithm: d.OID}
}

// SignatureAlgorithm is a registry entry for a signature scheme. Adding a
// national algorithm means adding one of these (and its DigestAlgorithm).
type SignatureAlgorithm struct {
	// Name selects the entry in SignOptions.Algorithm ("RSA", "RSA-PSS",
	// "ECDSA", "Ed25519", ...).
	Name string
	// ByNameOnly entries are never picked automatically from the key type
	// (RSA-PSS: an RSA key signs PKCS#1 v1.5 unless PSS is asked for).
	ByNameOnly bool
	// DefaultDigest is used when the caller names none (0 → SHA-256). An
	// entry whose digest is not a crypto.Hash sets DefaultDigestOID.
	DefaultDigest    crypto.Hash
	DefaultDigestOID asn1.ObjectIdentifier
	// Supports reports whether the entry signs with this public key and
	// digest.
	Supports func(pub crypto.PublicKey, d *DigestAlgorithm) bool
	// Identifier returns the signatureAlgorithm written in the SignerInfo.
	Identifier func(d *DigestAlgorithm) (pkix.AlgorithmIdentifier, error)
	// Matches reports whether a signatureAlgorithm read from a SignerInfo
	// belongs to this entry.
	Matches func(alg pkix.AlgorithmIdentifier) bool
	// Sign signs. message is the DER of the signed attributes (SET tag),
	// digest is its hash under d. Most schemes sign the digest; Ed25519
	// signs the message.
	Sign func(rand io.Reader, s crypto.Signer, d *DigestAlgorithm, message, digest []byte) ([]byte, error)
	// Verify checks sig over message/digest with pub; alg is the
	// signatureAlgorithm from the SignerInfo (for parameters such as PSS).
	Verify func(pub crypto.PublicKey, alg pkix.AlgorithmIdentifier, d *DigestAlgorithm, message, digest, sig []byte) error
}

// Registry is the set of algorithms a call may use. The zero value is
// empty; DefaultRegistry returns a fresh copy of the built-in entries that
// the caller may extend. Registries are read-only during calls; do not
// modify one that is in use by another goroutine.
type Registry struct {
	Digests    []DigestAlgorithm
	Signatures []SignatureAlgorithm
}

var (
	defaultRegistryOnce sync.Once
	defaultRegistryVal  *Registry
)

// DefaultRegistry returns a new Registry with the built-in algorithms:
// SHA-1 (only when asked for), SHA-224/256/384/512, Streebog-256/512,
// GOST R 34.11-94 and O'zDSt 1106, GOST 34.311-95; RSA PKCS#1 v1.5,
// RSA-PSS, ECDSA, Ed25519, GOST R 34.10-2012 (256, 512), GOST R 34.10-2001
// and O'zDSt 1092 (see gost.go), DSTU 4145-2002 (see dstu.go).
func DefaultRegistry() *Registry {
	r := builtinRegistry()
	return &Registry{
		Digests:    append([]DigestAlgorithm(nil), r.Digests...),
		Signatures: append([]SignatureAlgorithm(nil), r.Signatures...),
	}
}

// builtinRegistry is the shared, never-modified default.
func builtinRegistry() *Registry {
	defaultRegistryOnce.Do(func() {
		defaultRegistryVal = &Registry{
			Digests: []DigestAlgorithm{
				{Name: "SHA-256", OID: OIDDigestSHA256, Hash: crypto.SHA256},
				{Name: "SHA-384", OID: OIDDigestSHA384, Hash: crypto.SHA384},
				{Name: "SHA-512", OID: OIDDigestSHA512, Hash: crypto.SHA512},
				{Name: "SHA-224", OID: OIDDigestSHA224, Hash: crypto.SHA224},
				{Name: "SHA-1", OID: OIDDigestSHA1, Hash: crypto.SHA1},
				gost34311Digest(),
			},
			Signatures: []SignatureAlgorithm{rsaPKCS1Entry(), rsaPSSEntry(), ecdsaEntry(), ed25519Entry(),
				dstuEntry(),
			},
		}
		defaultRegistryVal.Digests = append(defaultRegistryVal.Digests, gostDigests()...)
		defaultRegistryVal.Signatures = append(defaultRegistryVal.Signatures, gostEntries()...)
	})
	return defaultRegistryVal
}

func registryOr(r *Registry) *Registry {
	if r == nil {
		return builtinRegistry()
	}
	return r
}

// DigestByHash returns the entry for a crypto.Hash.
func (r *Registry) DigestByHash(h crypto.Hash) (*DigestAlgorithm, error) {
	for i := range r.Digests {
		if r.Digests[i].Hash == h && h != 0 {
			return &r.Digests[i], nil
		}
	}
	return nil, fmt.Errorf("%w: digest %v", ErrUnsupportedAlgorithm, h)
}

// DigestByOID returns the entry for a digest OID.
func (r *Registry) DigestByOID(oid asn1.ObjectIdentifier) (*DigestAlgorithm, error) {
	for i := range r.Digests {
		if r.Digests[i].OID.Equal(oid) {
			return &r.Digests[i], nil
		}
	}
	return nil, fmt.Errorf("%w: digest %v", ErrUnsupportedAlgorithm, oid)
}

// SignatureByName returns the entry with this name.
func (r *Registry) SignatureByName(name string) (*SignatureAlgorithm, error) {
	for i := range r.Signatures {
		if r.Signatures[i].Name == name {
			return &r.Signatures[i], nil
		}
	}
	return nil, fmt.Errorf("%w: signature algorithm %q", ErrUnsupportedAlgorithm, name)
}

// signatureForKey returns the first automatic entry that handles pub.
func (r *Registry) signatureForKey(pub crypto.PublicKey) (*SignatureAlgorithm, error) {
	for i := range r.Signatures {
		e := &r.Signatures[i]
		if !e.ByNameOnly && e.Supports(pub, nil) {
			return e, nil
		}
	}
	return nil, fmt.Errorf("%w: no signature algorithm for key type %T", ErrUnsupportedAlgorithm, pub)
}

// SignatureByIdentifier returns the entry for a signatureAlgorithm read
// from a SignerInfo.
func (r *Registry) SignatureByIdentifier(alg pkix.AlgorithmIdentifier) (*SignatureAlgorithm, error) {
	for i := range r.Signatures {
		if r.Signatures[i].Matches(alg) {
			return &r.Signatures[i], nil
		}
	}
	return nil, fmt.Errorf("%w: signature algorithm %v", ErrUnsupportedAlgorithm, alg.Algorithm)
}

// ---- built-in entries ----

var errBadSignature = errors.New("signature does not verify")

func rsaPKCS1OID(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	switch h {
	case crypto.SHA1:
		return OIDSignatureSHA1WithRSA, true
	case crypto.SHA224:
		return OIDSignatureSHA224WithRSA, true
	case crypto.SHA256:
		return OIDSignatureSHA256WithRSA, true
	case crypto.SHA384:
		return OIDSignatureSHA384WithRSA, true
	case crypto.SHA512:
		return OIDSignatureSHA512WithRSA, true
	}
	return nil, false
}

func ecdsaOID(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	switch h {
	case crypto.SHA1:
		return OIDSignatureECDSAWithSHA1, true
	case crypto.SHA224:
		return OIDSignatureECDSAWithSHA224, true
	case crypto.SHA256:
		return OIDSignatureECDSAWithSHA256, true
	case crypto.SHA384:
		return OIDSignatureECDSAWithSHA384, true
	case crypto.SHA512:
		return OIDSignatureECDSAWithSHA512, true
	}
	return nil, false
}

func stdHash(d *DigestAlgorithm) bool { return d == nil || (d.Hash != 0 && d.Hash.Available()) }

func rsaPKCS1Entry() SignatureAlgorithm {
	return SignatureAlgorithm{
		Name: "RSA",
		Supports: func(pub crypto.PublicKey, d *DigestAlgorithm) bool {
			_, ok := pub.(*rsa.PublicKey)
			return ok && stdHash(d)
		},
		Identifier: func(d *DigestAlgorithm) (pkix.AlgorithmIdentifier, error) {
			oid, ok := rsaPKCS1OID(d.Hash)
			if !ok {
				return pkix.AlgorithmIdentifier{}, fmt.Errorf("%w: RSA with %s", ErrUnsupportedAlgorithm, d.Name)
			}
			return pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: asn1NULL}, nil
		},
		Matches: func(alg pkix.AlgorithmIdentifier) bool {
			if alg.Algorithm.Equal(OIDPublicKeyRSA) {
				return true
			}
			for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
				if oid, _ := rsaPKCS1OID(h); oid.Equal(alg.Algorithm) {
					return true
				}
			}
			return false
		},
		Sign: func(rand io.Reader, s crypto.Signer, d *DigestAlgorithm, _, digest []byte) ([]byte, error) {
			return s.Sign(rand, digest, d.Hash)
		},
		Verify: func(pub crypto.PublicKey, _ pkix.AlgorithmIdentifier, d *DigestAlgorithm, _, digest, sig []byte) error {
			k, ok := pub.(*rsa.PublicKey)
			if !ok {
				return fmt.Errorf("RSA signature but %T key", pub)
			}
			if err := rsa.VerifyPKCS1v15(k, d.Hash, digest, sig); err != nil {
				return errBadSignature
			}
			return nil
		},
	}
}

// pssParams is RSASSA-PSS-params (RFC 4055 §3.1).
type pssParams struct {
	Hash         pkix.AlgorithmIdentifier `asn1:"explicit,tag:0,optional"`
	MGF          pkix.AlgorithmIdentifier `asn1:"explicit,tag:1,optional"`
	SaltLength   int                      `asn1:"explicit,tag:2,optional,default:20"`
	TrailerField int                      `asn1:"explicit,tag:3,optional,default:1"`
}

func rsaPSSEntry() SignatureAlgorithm {
	return SignatureAlgorithm{
		Name:       "RSA-PSS",
		ByNameOnly: true,
		Supports: func(pub crypto.PublicKey, d *DigestAlgorithm) bool {
			_, ok := pub.(*rsa.PublicKey)
			return ok && stdHash(d)
		},
		Identifier: func(d *DigestAlgorithm) (pkix.AlgorithmIdentifier, error) {
			hashAlg := pkix.AlgorithmIdentifier{Algorithm: d.OID, Parameters: asn1NULL}
			mgfParams, err := asn1.Marshal(hashAlg)
			if err != nil {
				return pkix.AlgorithmIdentifier{}, err
			}
			p, err := asn1.Marshal(pssParams{
				Hash:         hashAlg,
				MGF:          pkix.AlgorithmIdentifier{Algorithm: OIDMGF1, Parameters: asn1.RawValue{FullBytes: mgfParams}},
				SaltLength:   d.Hash.Size(),
				TrailerField: 1,
			})
			if err != nil {
				return pkix.AlgorithmIdentifier{}, err
			}
			return pkix.AlgorithmIdentifier{Algorithm: OIDSignatureRSAPSS, Parameters: asn1.RawValue{FullBytes: p}}, nil
		},
		Matches: func(alg pkix.AlgorithmIdentifier) bool { return alg.Algorithm.Equal(OIDSignatureRSAPSS) },
		Sign: func(rand io.Reader, s crypto.Signer, d *DigestAlgorithm, _, digest []byte) ([]byte, error) {
			return s.Sign(rand, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: d.Hash})
		},
		Verify: func(pub crypto.PublicKey, alg pkix.AlgorithmIdentifier, d *DigestAlgorithm, _, digest, sig []byte) error {
			k, ok := pub.(*rsa.PublicKey)
			if !ok {
				return fmt.Errorf("RSA-PSS signature but %T key", pub)
			}
			var p pssParams
			if len(alg.Parameters.FullBytes) > 0 {
				if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
					return fmt.Errorf("%w: RSA-PSS parameters", ErrMalformed)
				}
			}
			if p.Hash.Algorithm != nil && !p.Hash.Algorithm.Equal(d.OID) {
				return fmt.Errorf("%w: RSA-PSS hash %v differs from digest %s", ErrUnsupportedAlgorithm, p.Hash.Algorithm, d.Name)
			}
			if p.MGF.Algorithm != nil && !p.MGF.Algorithm.Equal(OIDMGF1) {
				return fmt.Errorf("%w: RSA-PSS mask generation %v", ErrUnsupportedAlgorithm, p.MGF.Algorithm)
			}
			salt := p.SaltLength
			if len(alg.Parameters.FullBytes) == 0 {
				salt = rsa.PSSSaltLengthAuto
			}
			if err := rsa.VerifyPSS(k, d.Hash, digest, sig, &rsa.PSSOptions{SaltLength: salt, Hash: d.Hash}); err != nil {
				return errBadSignature
			}
			return nil
		},
	}
}

func ecdsaEntry() SignatureAlgorithm {
	return SignatureAlgorithm{
		Name: "ECDSA",
		Supports: func(pub crypto.PublicKey, d *DigestAlgorithm) bool {
			_, ok := pub.(*ecdsa.PublicKey)
			return ok && stdHash(d)
		},
		Identifier: func(d *DigestAlgorithm) (pkix.AlgorithmIdentifier, error) {
			oid, ok := ecdsaOID(d.Hash)
			if !ok {
				return pkix.AlgorithmIdentifier{}, fmt.Errorf("%w: ECDSA with %s", ErrUnsupportedAlgorithm, d.Name)
			}
			return pkix.AlgorithmIdentifier{Algorithm: oid}, nil
		},
		Matches: func(alg pkix.AlgorithmIdentifier) bool {
			if alg.Algorithm.Equal(OIDPublicKeyECDSA) {
				return true
			}
			for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
				if oid, _ := ecdsaOID(h); oid.Equal(alg.Algorithm) {
					return true
				}
			}
			return false
		},
		Sign: func(rand io.Reader, s crypto.Signer, d *DigestAlgorithm, _, digest []byte) ([]byte, error) {
			return s.Sign(rand, digest, d.Hash)
		},
		Verify: func(pub crypto.PublicKey, _ pkix.AlgorithmIdentifier, _ *DigestAlgorithm, _, digest, sig []byte) error {
			k, ok := pub.(*ecdsa.PublicKey)
			if !ok {
				return fmt.Errorf("ECDSA signature but %T key", pub)
			}
			if !ecdsa.VerifyASN1(k, digest, sig) {
				return errBadSignature
			}
			return nil
		},
	}
}

func ed25519Entry() SignatureAlgorithm {
	return SignatureAlgorithm{
		Name:          "Ed25519",
		DefaultDigest: crypto.SHA512,
		Supports: func(pub crypto.PublicKey, d *DigestAlgorithm) bool {
			_, ok := pub.(ed25519.PublicKey)
			return ok && (d == nil || d.Hash == crypto.SHA512)
		},
		Identifier: func(*DigestAlgorithm) (pkix.AlgorithmIdentifier, error) {
			return pkix.AlgorithmIdentifier{Algorithm: OIDSignatureEd25519}, nil
		},
		Matches: func(alg pkix.AlgorithmIdentifier) bool { return alg.Algorithm.Equal(OIDSignatureEd25519) },
		Sign: func(rand io.Reader, s crypto.Signer, _ *DigestAlgorithm, message, _ []byte) ([]byte, error) {
			return s.Sign(rand, message, crypto.Hash(0))
		},
		Verify: func(pub crypto.PublicKey, _ pkix.AlgorithmIdentifier, _ *DigestAlgorithm, message, _, sig []byte) error {
			k, ok := pub.(ed25519.PublicKey)
			if !ok {
				return fmt.Errorf("Ed25519 signature but %T key", pub)
			}
			if !ed25519.Verify(k, message, sig) {
				return errBadSignature
			}
			return nil
		},
	}
}
