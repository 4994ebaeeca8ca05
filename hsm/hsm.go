// Package hsm is Signet's key-store layer: one interface, KeyStore, over
// every source of keys a person may have — PKCS#11 tokens and smart cards
// (hsm/pkcs11) and PFX/PKCS#12 files (hsm/pfx) — with optional capabilities
// (Decrypter, KeyGenerator, CertificateImporter, Deleter, Watcher, Locker,
// KeyCache, ProblemReporter) a caller discovers with a type assertion. Store
// combines several backends and routes each call by the key's URI: an RFC
// 7512 pkcs11: URI or a file: URI with the PFX entry's alias, stable across
// restarts. PINs are asked lazily through an injected PINPrompt, travel as
// byte slices that are wiped after use and never appear in logs or errors;
// errors callers act on are sentinels (ErrKeyNotFound, ErrInvalidURI, …)
// tested with errors.Is. Every backend is safe for concurrent use.
//
//	store := hsm.NewStore(tokens, files) // a pkcs11.Backend, a pfx.Backend
//	defer store.Close()
//	keys, err := store.Keys(ctx)
//	…
//	sig, err := store.Sign(ctx, "pkcs11:token=Work;object=signing;type=private", digest, crypto.SHA256)
//	if errors.Is(err, hsm.ErrTokenRemoved) {
//		// ask the person to insert the token
//	}
//
// The design and the reasons for it are in docs/key-store.md.
package hsm

import (
	"context"
	"crypto"
	"crypto/x509"
	"io"
	"time"
)

// KeyStore is the core interface every backend implements.
type KeyStore interface {
	// Tokens lists the tokens (PKCS#11 tokens, PFX files) this store knows.
	Tokens(ctx context.Context) ([]TokenInfo, error)
	// Keys lists private keys and certificates. A private key and a
	// certificate that belong together (same CKA_ID, same PFX entry) are one
	// KeyInfo. One object the backend cannot understand never fails the whole
	// listing; it is skipped (and reported through Problems).
	Keys(ctx context.Context) ([]KeyInfo, error)
	// Sign signs digest with the key named by keyURI. opts follow
	// crypto.Signer: the hash function (or 0 for Ed25519 over the whole
	// message) and *rsa.PSSOptions for RSA-PSS. A PIN is asked through the
	// backend's PINPrompt if the token is not logged in.
	Sign(ctx context.Context, keyURI string, digest []byte, opts crypto.SignerOpts) ([]byte, error)
	// Close releases sessions, wipes cached PINs and unlocked keys.
	Close() error
}

// Decrypter is implemented by backends that can decrypt with a private key
// (RSA PKCS#1 v1.5 with nil opts or *rsa.PKCS1v15DecryptOptions, and OAEP with
// *rsa.OAEPOptions).
type Decrypter interface {
	Decrypt(ctx context.Context, keyURI string, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error)
}

// KeyGenerator is implemented by backends that create key pairs.
type KeyGenerator interface {
	GenerateKey(ctx context.Context, req GenerateKeyRequest) (KeyInfo, error)
}

// CertificateImporter is implemented by backends that can store a
// certificate (or a chain) next to its key.
type CertificateImporter interface {
	ImportCertificate(ctx context.Context, req ImportCertificateRequest) (KeyInfo, error)
}

// Deleter is implemented by backends that can delete objects.
type Deleter interface {
	// Delete removes the object(s) named by uri: a key URI removes the
	// private key, its public key and its certificate.
	Delete(ctx context.Context, uri string) error
}

// Watcher is implemented by backends whose tokens come and go.
type Watcher interface {
	// Watch sends an event each time a token is inserted or removed, until
	// ctx is done; then the channel is closed.
	Watch(ctx context.Context) (<-chan TokenEvent, error)
}

// KeyCache is implemented by backends that remember what they learned about
// a key when they last used it. The journal uses it to name the signing
// certificate without listing the token again.
type KeyCache interface {
	// CachedKey returns the key's description (certificate included when
	// known) without touching the token; false when nothing is cached or
	// the token was removed since.
	CachedKey(keyURI string) (KeyInfo, bool)
}

// Locker is implemented by backends that cache a login or an unlocked key.
type Locker interface {
	// Lock logs out of the token (or forgets the unlocked PFX key) named by
	// tokenURI, so the next use asks for the PIN again.
	Lock(ctx context.Context, tokenURI string) error
}

// ProblemReporter is implemented by backends that skip what they cannot
// read — an odd object on a token, an unreadable PFX file, a missing
// directory — instead of failing a listing. Problems describes what the last
// listing skipped, one message each, for people to read.
type ProblemReporter interface {
	Problems() []string
}

// KeyAlgorithm names a key's public-key algorithm.
type KeyAlgorithm string

// Key algorithms Signet handles. The national ones are named as their
// standards are (the same strings as gost.KeyType's String).
const (
	RSA     KeyAlgorithm = "RSA"
	ECDSA   KeyAlgorithm = "ECDSA"
	Ed25519 KeyAlgorithm = "Ed25519"

	GOST2001     KeyAlgorithm = "GOST R 34.10-2001"
	GOST2012_256 KeyAlgorithm = "GOST R 34.10-2012 (256)"
	GOST2012_512 KeyAlgorithm = "GOST R 34.10-2012 (512)"
	OzDSt1092    KeyAlgorithm = "O'zDSt 1092:2009"
)

// DSTU4145 is the Ukrainian DSTU 4145-2002 (binary-field curves, with the
// GOST 34.311-95 digest); Bits is the field size m.
const DSTU4145 KeyAlgorithm = "DSTU4145"

// TokenInfo describes one token: a PKCS#11 token in a slot, or a PFX file.
type TokenInfo struct {
	URI          string // pkcs11:token=…;serial=… or file:///path/to/key.pfx
	Backend      string // "pkcs11" or "pfx"
	Module       string // PKCS#11 module path; empty for PFX
	Label        string
	Serial       string
	Manufacturer string
	Model        string
	Flags        TokenFlags
}

// TokenFlags is the part of the token's state that matters to people and to
// the PIN prompt.
type TokenFlags struct {
	LoginRequired     bool // operations on private keys need a PIN
	ProtectedAuthPath bool // the token has its own PIN pad: log in without a PIN
	WriteProtected    bool
	PIN               PINState
}

// PINState is what the token says about its user PIN.
type PINState struct {
	CountLow bool // a wrong PIN was entered since the last good one
	FinalTry bool // one more wrong PIN locks the token
	Locked   bool
	// Retries is the number of tries left when the backend knows it, else -1.
	Retries int
}

// KeyInfo is a private key and/or certificate. Keys with a private key have
// HasPrivateKey set; a certificate alone (a CA certificate on a token) has it
// unset.
type KeyInfo struct {
	URI       string // pkcs11:token=…;id=%01;object=…;type=private, or file:///…#alias
	TokenURI  string
	Label     string
	ID        []byte // CKA_ID; for PFX the local key id when present
	Algorithm KeyAlgorithm
	// Bits is the RSA modulus size, or the curve size for EC keys.
	Bits      int
	PublicKey crypto.PublicKey

	HasPrivateKey      bool
	CanSign            bool
	CanDecrypt         bool
	AlwaysAuthenticate bool // CKA_ALWAYS_AUTHENTICATE: a PIN before each use

	Certificate *x509.Certificate // nil when the key has no certificate
	// Chain is the issuers of Certificate the store holds, nearest first:
	// for a PFX file its other certificates; for a token key the
	// certificates on the token walked issuer by issuer (intermediates,
	// the root when present). Empty when the store has the key's
	// certificate only.
	Chain []*x509.Certificate
}

// GenerateKeyRequest asks a backend to create a key pair.
type GenerateKeyRequest struct {
	TokenURI  string // where to create it
	Label     string
	ID        []byte // CKA_ID; generated when empty
	Algorithm KeyAlgorithm
	Bits      int // RSA size (default 2048) or EC curve size (256, 384, 521)
}

// ImportCertificateRequest stores a certificate next to its key.
type ImportCertificateRequest struct {
	// KeyURI names the key the certificate belongs to. When empty, TokenURI
	// names the token and the key is found by the certificate's public key.
	KeyURI      string
	TokenURI    string
	Label       string
	Certificate *x509.Certificate
	Chain       []*x509.Certificate // CA certificates stored beside it
}

// TokenEvent reports a token inserted or removed.
type TokenEvent struct {
	Time    time.Time
	Token   TokenInfo
	Removed bool
}

// Signer returns a crypto.Signer for keyURI backed by ks, bound to ctx for
// PIN prompts and cancellation. The public key is taken from pub.
func Signer(ctx context.Context, ks KeyStore, keyURI string, pub crypto.PublicKey) crypto.Signer {
	return &boundSigner{ctx: ctx, ks: ks, uri: keyURI, pub: pub}
}

type boundSigner struct {
	ctx context.Context
	ks  KeyStore
	uri string
	pub crypto.PublicKey
}

func (s *boundSigner) Public() crypto.PublicKey { return s.pub }

func (s *boundSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.ks.Sign(s.ctx, s.uri, digest, opts)
}
