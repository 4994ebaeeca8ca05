package sdk

import (
	"crypto"
	"crypto/x509"
	"errors"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/wire"
)

// KeyAlgorithm names a key's public-key algorithm.
type KeyAlgorithm string

// Key algorithms the host reports. The national ones are named as their
// standards are; a GOST or O'zDSt key signs with the digest of its
// algorithm (gost.KeyType.NewHash) and crypto.Hash(0) as the options.
const (
	AlgorithmRSA     KeyAlgorithm = "RSA"
	AlgorithmECDSA   KeyAlgorithm = "ECDSA"
	AlgorithmEd25519 KeyAlgorithm = "Ed25519"

	AlgorithmGOST2001     KeyAlgorithm = "GOST R 34.10-2001"
	AlgorithmGOST2012_256 KeyAlgorithm = "GOST R 34.10-2012 (256)"
	AlgorithmGOST2012_512 KeyAlgorithm = "GOST R 34.10-2012 (512)"
	AlgorithmOzDSt1092    KeyAlgorithm = "O'zDSt 1092:2009"
)

// AlgorithmDSTU4145 is the Ukrainian DSTU 4145-2002 (see sdk/dstu).
const AlgorithmDSTU4145 KeyAlgorithm = "DSTU4145"

// Key is a private key and/or certificate in the host's key store, as
// KeyService.Keys lists it. A plugin names it by URI in every later call; it
// never holds the private key.
type Key struct {
	// URI names the key, stable across restarts and re-insertions:
	// "pkcs11:token=…;id=%01;object=…;type=private" (RFC 7512) for a
	// token key, "file:///path/key.pfx#alias" for a PFX entry.
	URI string
	// TokenURI names the token or PFX file the key is on.
	TokenURI string
	// Label is the key's label on the token (CKA_LABEL), or the PFX alias.
	Label string
	// ID is the key's CKA_ID, or a PFX entry's local key id when present.
	ID []byte
	// Algorithm is the public-key algorithm: AlgorithmRSA, AlgorithmECDSA,
	// AlgorithmEd25519, or a backend's own name.
	Algorithm KeyAlgorithm
	// Bits is the RSA modulus size, or the curve size of an EC key.
	Bits int
	// PublicKey is the parsed public key (*rsa.PublicKey,
	// *ecdsa.PublicKey, ed25519.PublicKey); nil when unknown.
	PublicKey crypto.PublicKey

	// HasPrivateKey is set for a key pair; a certificate alone (a CA
	// certificate on a token) has it unset and cannot sign.
	HasPrivateKey bool
	// CanSign and CanDecrypt say what the private key may be used for.
	CanSign    bool
	CanDecrypt bool
	// AlwaysAuthenticate: the token asks for the PIN before each use
	// (CKA_ALWAYS_AUTHENTICATE); the host asks the person, not the plugin.
	AlwaysAuthenticate bool

	// Certificate is the key's certificate, nil when it has none.
	Certificate *x509.Certificate
	// Chain is the rest of the chain when the store has it (PFX files),
	// issuer first.
	Chain []*x509.Certificate

	// Withheld: the host listed the key for a choice (Operation.ForChoice)
	// to a web origin the person has not allowed yet, and withheld its
	// identity — Label, ID, PublicKey, Certificate and Chain are empty.
	// Offer it to Consent.ChooseKey, which returns it in full; never show
	// it to the page.
	Withheld bool
}

// Token is a PKCS#11 token or a PFX file, as KeyService.Tokens lists it.
type Token struct {
	// URI names the token: "pkcs11:token=…;serial=…" or
	// "file:///path/key.pfx".
	URI string
	// Backend is "pkcs11" or "pfx".
	Backend string
	// Label, Serial, Manufacturer and Model are what the token reports
	// (a PFX file has only a label).
	Label        string
	Serial       string
	Manufacturer string
	Model        string
	// Flags is the token's state that matters to people and prompts.
	Flags TokenFlags
}

// TokenFlags is a token's state.
type TokenFlags struct {
	// LoginRequired: using a private key needs the PIN (the host asks).
	LoginRequired bool
	// ProtectedAuthPath: the token has its own PIN pad.
	ProtectedAuthPath bool
	// WriteProtected: no keys or certificates can be added.
	WriteProtected bool
	// PIN is the user PIN's state.
	PIN PINState
}

// PINState is what a token says about its user PIN.
type PINState struct {
	CountLow bool // a wrong PIN was entered since the last good one
	FinalTry bool // one more wrong PIN locks the token
	Locked   bool
	// Retries is the number of tries left when the token says, else -1.
	Retries int
}

// PINError is a PIN or password the host's prompt got and the token
// refused. It matches ErrPINIncorrect or ErrPINLocked with errors.Is;
// test for it with errors.As to show the tries left.
type PINError struct {
	Token string   // the token's URI or label
	State PINState // after the refused attempt
	Err   error    // ErrPINIncorrect or ErrPINLocked
}

func (e *PINError) Error() string {
	// One wording for the host's and the plugin's PIN errors.
	return (&hsm.PINError{Token: e.Token, State: hsm.PINState(e.State), Err: e.Err}).Error()
}

func (e *PINError) Unwrap() error { return e.Err }

// GenerateKeyRequest asks for a new key pair (KeyService.GenerateKey).
type GenerateKeyRequest struct {
	TokenURI  string       // the token to create it on
	Label     string       // the new key's label
	ID        []byte       // CKA_ID; generated when empty
	Algorithm KeyAlgorithm // AlgorithmRSA, AlgorithmECDSA, AlgorithmEd25519 or a national one
	Bits      int          // RSA size (default 2048) or EC curve size (256, 384, 521)
}

// ImportCertificateRequest stores a certificate next to its key
// (KeyService.ImportCertificate).
type ImportCertificateRequest struct {
	// KeyURI names the key the certificate belongs to. When empty,
	// TokenURI names the token and the key is found by the certificate's
	// public key.
	KeyURI      string
	TokenURI    string
	Label       string // the certificate's label; the key's when empty
	Certificate *x509.Certificate
	Chain       []*x509.Certificate // CA certificates stored beside it
}

// The SDK's gRPC boundary: wire converts to and from the host's key-store
// types; these convert those to the SDK's own.

func keyFromStore(k hsm.KeyInfo) Key {
	return Key{
		URI: k.URI, TokenURI: k.TokenURI, Label: k.Label, ID: k.ID,
		Algorithm: KeyAlgorithm(k.Algorithm), Bits: k.Bits, PublicKey: k.PublicKey,
		HasPrivateKey: k.HasPrivateKey, CanSign: k.CanSign, CanDecrypt: k.CanDecrypt,
		AlwaysAuthenticate: k.AlwaysAuthenticate,
		Certificate:        k.Certificate, Chain: k.Chain,
	}
}

func tokenFromStore(t hsm.TokenInfo) Token {
	return Token{
		URI: t.URI, Backend: t.Backend, Label: t.Label, Serial: t.Serial,
		Manufacturer: t.Manufacturer, Model: t.Model,
		Flags: TokenFlags{
			LoginRequired: t.Flags.LoginRequired, ProtectedAuthPath: t.Flags.ProtectedAuthPath,
			WriteProtected: t.Flags.WriteProtected, PIN: PINState(t.Flags.PIN),
		},
	}
}

// fromHost turns an error from a host call into the SDK's form: a
// *PINError for a refused PIN, else as wire.FromStatus gives it (matching
// the same sentinel errors).
func fromHost(err error) error {
	err = wire.FromStatus(err)
	var pe *hsm.PINError
	if errors.As(err, &pe) {
		return &PINError{Token: pe.Token, State: PINState(pe.State), Err: pe.Err}
	}
	return err
}
