// Package wire holds what the Signet host and the SDK must agree on to talk
// to each other: the go-plugin handshake, the protocol version, and the
// conversions between Go values (hsm errors, keys, tokens, operations) and
// their protobuf form in sdk/proto/signetv1.
//
// Plugins do not use this package; they import sdk. It lives under
// internal/ because it is not public API: it exists so that the host
// (agent/host) and the SDK share one implementation.
package wire

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"time"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/certs"
	"github.com/signet-agent/signet/sdk/gost"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

// ProtocolVersion is the Signet plugin protocol version. Bump it on any
// incompatible change to sdk/proto; the host refuses plugins that speak
// another version.
const ProtocolVersion = 1

// PluginKey is the name of the one go-plugin plugin a Signet plugin process
// serves.
const PluginKey = "signet"

// Handshake is the go-plugin handshake. The magic cookie only tells a person
// who runs a plugin binary by hand that it is meant to be started by Signet.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SIGNET_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "b7e4d8c2-signet-plugin-7d1f0a93",
}

// EnvLifeline names the environment variable that tells a plugin which file
// descriptor is its lifeline: the read end of a pipe whose write end only
// the host holds. When the host dies the kernel closes the write end, the
// plugin reads EOF and exits.
const EnvLifeline = "SIGNET_PLUGIN_LIFELINE_FD"

// Limits on what crosses the wire, checked on receipt.
const (
	MaxDigest     = 1 << 10 // a digest, or an Ed25519 message (the SDK hashes larger data)
	MaxCiphertext = 1 << 14
	MaxDocuments  = 1 << 10
	MaxText       = 1 << 14 // summary, names, evidence values
	MaxNames      = 64
	// MaxSummaryHTML bounds Operation.summary_html (Cipher's metaData); the
	// host refuses a longer one.
	MaxSummaryHTML = 64 << 10
	// MaxGrantUses bounds Operation.grant_uses (the host caps it lower).
	MaxGrantUses = 1 << 20
)

// ChooseKeyGrantTTL is how long the one-use grant a ChooseKey answer
// carries stays usable: the plugin signs right after the choice.
const ChooseKeyGrantTTL = 5 * time.Minute

// KeyToProto converts a KeyInfo for the wire.
func KeyToProto(k hsm.KeyInfo) (*pb.Key, error) {
	out := &pb.Key{
		Uri:                k.URI,
		TokenUri:           k.TokenURI,
		Label:              k.Label,
		Id:                 k.ID,
		Algorithm:          string(k.Algorithm),
		Bits:               int32(k.Bits),
		HasPrivateKey:      k.HasPrivateKey,
		CanSign:            k.CanSign,
		CanDecrypt:         k.CanDecrypt,
		AlwaysAuthenticate: k.AlwaysAuthenticate,
	}
	if k.PublicKey != nil {
		der, err := marshalPublicKey(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("key %s: marshal public key: %w", k.URI, err)
		}
		out.PublicKey = der
	}
	if k.Certificate != nil {
		out.Certificate = k.Certificate.Raw
	}
	for _, c := range k.Chain {
		out.Chain = append(out.Chain, c.Raw)
	}
	return out, nil
}

// marshalPublicKey is x509.MarshalPKIXPublicKey, and for the GOST and
// O'zDSt keys crypto/x509 does not know gost.MarshalPKIXPublicKey.
func marshalPublicKey(pub crypto.PublicKey) ([]byte, error) {
	if g, ok := pub.(*gost.PublicKey); ok {
		return gost.MarshalPKIXPublicKey(g)
	}
	return x509.MarshalPKIXPublicKey(pub)
}

// parsePublicKey undoes marshalPublicKey.
func parsePublicKey(der []byte) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err == nil {
		return pub, nil
	}
	if g, gerr := gost.ParsePKIXPublicKey(der); gerr == nil {
		return g, nil
	}
	return nil, err
}

// KeyFromProto converts a wire key back.
func KeyFromProto(k *pb.Key) (hsm.KeyInfo, error) {
	out := hsm.KeyInfo{
		URI:                k.GetUri(),
		TokenURI:           k.GetTokenUri(),
		Label:              k.GetLabel(),
		ID:                 k.GetId(),
		Algorithm:          hsm.KeyAlgorithm(k.GetAlgorithm()),
		Bits:               int(k.GetBits()),
		HasPrivateKey:      k.GetHasPrivateKey(),
		CanSign:            k.GetCanSign(),
		CanDecrypt:         k.GetCanDecrypt(),
		AlwaysAuthenticate: k.GetAlwaysAuthenticate(),
	}
	if len(k.GetPublicKey()) > 0 {
		pub, err := parsePublicKey(k.GetPublicKey())
		if err != nil {
			return out, fmt.Errorf("key %s: parse public key: %w", k.GetUri(), err)
		}
		out.PublicKey = pub
	}
	if len(k.GetCertificate()) > 0 {
		c, err := x509.ParseCertificate(k.GetCertificate())
		if err != nil {
			return out, fmt.Errorf("key %s: parse certificate: %w", k.GetUri(), err)
		}
		out.Certificate = c
		if out.PublicKey == nil {
			out.PublicKey = certs.PublicKey(c)
		}
	}
	for _, der := range k.GetChain() {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return out, fmt.Errorf("key %s: parse chain certificate: %w", k.GetUri(), err)
		}
		out.Chain = append(out.Chain, c)
	}
	return out, nil
}

// TokenToProto converts a TokenInfo for the wire.
func TokenToProto(t hsm.TokenInfo) *pb.Token {
	return &pb.Token{
		Uri:               t.URI,
		Backend:           t.Backend,
		Label:             t.Label,
		Serial:            t.Serial,
		Manufacturer:      t.Manufacturer,
		Model:             t.Model,
		LoginRequired:     t.Flags.LoginRequired,
		ProtectedAuthPath: t.Flags.ProtectedAuthPath,
		WriteProtected:    t.Flags.WriteProtected,
		PinState:          PINStateToProto(t.Flags.PIN),
	}
}

// TokenFromProto converts a wire token back. The module path is not sent.
func TokenFromProto(t *pb.Token) hsm.TokenInfo {
	return hsm.TokenInfo{
		URI:          t.GetUri(),
		Backend:      t.GetBackend(),
		Label:        t.GetLabel(),
		Serial:       t.GetSerial(),
		Manufacturer: t.GetManufacturer(),
		Model:        t.GetModel(),
		Flags: hsm.TokenFlags{
			LoginRequired:     t.GetLoginRequired(),
			ProtectedAuthPath: t.GetProtectedAuthPath(),
			WriteProtected:    t.GetWriteProtected(),
			PIN:               PINStateFromProto(t.GetPinState()),
		},
	}
}

// PINStateToProto converts a PINState.
func PINStateToProto(s hsm.PINState) *pb.PINState {
	return &pb.PINState{CountLow: s.CountLow, FinalTry: s.FinalTry, Locked: s.Locked, Retries: int32(s.Retries)}
}

// PINStateFromProto converts a wire PINState; nil gives Retries -1 (unknown).
func PINStateFromProto(s *pb.PINState) hsm.PINState {
	if s == nil {
		return hsm.PINState{Retries: -1}
	}
	return hsm.PINState{CountLow: s.CountLow, FinalTry: s.FinalTry, Locked: s.Locked, Retries: int(s.Retries)}
}

// SignerOptsToProto fills the hash and PSS fields of req from opts.
func SignerOptsToProto(req *pb.SignRequest, opts crypto.SignerOpts) {
	if opts == nil {
		return
	}
	req.Hash = uint32(opts.HashFunc())
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		req.Pss = true
		req.PssSaltLength = int32(pss.SaltLength)
	}
}

// SignerOptsFromProto rebuilds crypto.SignerOpts and checks the digest
// length against the hash.
func SignerOptsFromProto(req *pb.SignRequest) (crypto.SignerOpts, error) {
	h := crypto.Hash(req.GetHash())
	if h != 0 && (h >= crypto.Hash(64) || !h.Available()) {
		return nil, fmt.Errorf("hash %d: %w", req.GetHash(), hsm.ErrUnsupported)
	}
	if len(req.GetDigest()) == 0 || len(req.GetDigest()) > MaxDigest {
		return nil, fmt.Errorf("digest of %d bytes: %w", len(req.GetDigest()), hsm.ErrInvalidRequest)
	}
	if h != 0 && len(req.GetDigest()) != h.Size() {
		return nil, fmt.Errorf("digest of %d bytes for %v: %w", len(req.GetDigest()), h, hsm.ErrInvalidRequest)
	}
	if req.GetPss() {
		return &rsa.PSSOptions{Hash: h, SaltLength: int(req.GetPssSaltLength())}, nil
	}
	return h, nil
}

// DecrypterOptsToProto fills the OAEP fields of req from opts.
func DecrypterOptsToProto(req *pb.DecryptRequest, opts crypto.DecrypterOpts) {
	if o, ok := opts.(*rsa.OAEPOptions); ok {
		req.OaepHash = uint32(o.Hash)
		req.OaepLabel = o.Label
	}
}

// DecrypterOptsFromProto rebuilds crypto.DecrypterOpts.
func DecrypterOptsFromProto(req *pb.DecryptRequest) (crypto.DecrypterOpts, error) {
	if req.GetOaepHash() == 0 {
		return nil, nil
	}
	h := crypto.Hash(req.GetOaepHash())
	if h >= crypto.Hash(64) || !h.Available() {
		return nil, fmt.Errorf("OAEP hash %d: %w", req.GetOaepHash(), hsm.ErrUnsupported)
	}
	return &rsa.OAEPOptions{Hash: h, Label: req.GetOaepLabel()}, nil
}

// CheckOperation bounds an operation received from a plugin.
func CheckOperation(op *pb.Operation) error {
	if op == nil {
		return nil
	}
	if len(op.GetDocuments()) > MaxDocuments {
		return fmt.Errorf("%d documents: %w", len(op.GetDocuments()), hsm.ErrInvalidRequest)
	}
	if n := len(op.GetSummaryHtml()); n > MaxSummaryHTML {
		return fmt.Errorf("HTML summary of %d bytes (at most %d): %w", n, MaxSummaryHTML, hsm.ErrInvalidRequest)
	}
	if u := op.GetGrantUses(); u < 0 || u > MaxGrantUses {
		return fmt.Errorf("grant of %d uses: %w", u, hsm.ErrInvalidRequest)
	}
	if w := op.GetGrantWithinSeconds(); w < 0 || w > 366*24*3600 {
		return fmt.Errorf("grant within %d seconds: %w", w, hsm.ErrInvalidRequest)
	}
	texts := []string{op.GetOrigin(), op.GetCaller(), op.GetSummary(), op.GetRequestId(), op.GetGrantId()}
	for _, d := range op.GetDocuments() {
		texts = append(texts, d.GetName(), d.GetContentType())
		if n := len(d.GetSha256()); n != 0 && n != 32 {
			return fmt.Errorf("document %q: SHA-256 of %d bytes: %w", d.GetName(), n, hsm.ErrInvalidRequest)
		}
	}
	if len(op.GetEvidence()) > MaxNames {
		return fmt.Errorf("%d evidence entries: %w", len(op.GetEvidence()), hsm.ErrInvalidRequest)
	}
	for k, v := range op.GetEvidence() {
		texts = append(texts, k, v)
	}
	for _, s := range texts {
		if len(s) > MaxText {
			return fmt.Errorf("operation text of %d bytes: %w", len(s), hsm.ErrInvalidRequest)
		}
	}
	return nil
}
