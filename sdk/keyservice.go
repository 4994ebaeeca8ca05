package sdk

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/signet-agent/signet/internal/wire"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

// KeyService is the plugin's client of the host's key service: the host's
// key store (PKCS#11 tokens, PFX files) as a plugin sees it. Every call
// carries an Operation; the host applies origin policy and asks for consent
// before using a key, and asks for PINs itself.
type KeyService struct{ c pb.KeyStoreClient }

// Tokens lists the tokens and PFX files. Backends that failed to list are
// reported in the error, next to the tokens of the others. A web origin
// not allowed yet gets the person's first-use question.
func (k *KeyService) Tokens(ctx context.Context, op Operation) ([]Token, error) {
	resp, err := k.c.ListTokens(ctx, &pb.ListTokensRequest{Op: op.proto(pb.Operation_LIST)})
	if err != nil {
		return nil, fromHost(err)
	}
	out := make([]Token, 0, len(resp.GetTokens()))
	for _, t := range resp.GetTokens() {
		out = append(out, tokenFromStore(wire.TokenFromProto(t)))
	}
	return out, problems(resp.GetProblems())
}

// Keys lists keys and certificates. A web origin not allowed yet gets the
// person's first-use question, unless op.ForChoice says the listing only
// gathers the candidates of a Consent.ChooseKey.
func (k *KeyService) Keys(ctx context.Context, op Operation) ([]Key, error) {
	return k.keys(ctx, "", op)
}

// Key returns one key by URI; an unknown URI gives an error matching
// ErrKeyNotFound (or ErrTokenRemoved).
func (k *KeyService) Key(ctx context.Context, keyURI string, op Operation) (Key, error) {
	keys, err := k.keys(ctx, keyURI, op)
	if err != nil {
		return Key{}, err
	}
	if len(keys) == 0 {
		return Key{}, fmt.Errorf("%s: %w", keyURI, ErrKeyNotFound)
	}
	return keys[0], nil
}

func (k *KeyService) keys(ctx context.Context, keyURI string, op Operation) ([]Key, error) {
	resp, err := k.c.ListKeys(ctx, &pb.ListKeysRequest{Op: op.proto(pb.Operation_LIST), KeyUri: keyURI})
	if err != nil {
		return nil, fromHost(err)
	}
	out := make([]Key, 0, len(resp.GetKeys()))
	var errs []error
	for _, pk := range resp.GetKeys() {
		key, err := wire.KeyFromProto(pk)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k := keyFromStore(key)
		k.Withheld = resp.GetWithheld()
		out = append(out, k)
	}
	if p := problems(resp.GetProblems()); p != nil {
		errs = append(errs, p)
	}
	return out, errors.Join(errs...)
}

func problems(p []string) error {
	if len(p) == 0 {
		return nil
	}
	errs := make([]error, len(p))
	for i, s := range p {
		errs[i] = errors.New(s)
	}
	return errors.Join(errs...)
}

// Sign signs digest with the key named by keyURI; opts follow
// crypto.Signer (the hash, or 0 for Ed25519 over a short message;
// *rsa.PSSOptions for RSA-PSS). One cross-process call. The host asks the
// person (and the token's PIN) unless a grant or an unattended rule
// decides; see the package doc, "Which calls may ask the person".
func (k *KeyService) Sign(ctx context.Context, keyURI string, digest []byte, opts crypto.SignerOpts, op Operation) ([]byte, error) {
	if op.RequestID == "" {
		op.RequestID = newRequestID()
	}
	req := &pb.SignRequest{Op: op.proto(pb.Operation_SIGN), KeyUri: keyURI, Digest: digest}
	wire.SignerOptsToProto(req, opts)
	resp, err := k.c.Sign(ctx, req)
	if err != nil {
		return nil, fromHost(err)
	}
	op.grantIssued(resp.GetGrantId())
	return resp.GetSignature(), nil
}

// Signer returns a crypto.Signer for key, bound to ctx and op: each Sign is
// one call to the host. Use it with sdk/cms, crypto/x509 or crypto/tls. A
// Signer used for several signatures gets a distinct request id for each.
func (k *KeyService) Signer(ctx context.Context, key Key, op Operation) crypto.Signer {
	return &signer{ctx: ctx, ks: k, key: key, op: op}
}

type signer struct {
	ctx context.Context
	ks  *KeyService
	key Key
	op  Operation
}

func (s *signer) Public() crypto.PublicKey { return s.key.PublicKey }

func (s *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	op := s.op
	if op.RequestID != "" {
		op.RequestID += "/" + newRequestID()
	}
	return s.ks.Sign(s.ctx, s.key.URI, digest, opts, op)
}

// Decrypt decrypts with the key named by keyURI (RSA PKCS#1 v1.5 with nil
// opts, or *rsa.OAEPOptions). The host asks the person (and the PIN).
func (k *KeyService) Decrypt(ctx context.Context, keyURI string, ciphertext []byte, opts crypto.DecrypterOpts, op Operation) ([]byte, error) {
	req := &pb.DecryptRequest{Op: op.proto(pb.Operation_DECRYPT), KeyUri: keyURI, Ciphertext: ciphertext}
	wire.DecrypterOptsToProto(req, opts)
	resp, err := k.c.Decrypt(ctx, req)
	if err != nil {
		return nil, fromHost(err)
	}
	return resp.GetPlaintext(), nil
}

// GenerateKey creates a key pair on the token named by req.TokenURI. The
// host asks the person (and the PIN).
func (k *KeyService) GenerateKey(ctx context.Context, req GenerateKeyRequest, op Operation) (Key, error) {
	resp, err := k.c.GenerateKey(ctx, &pb.GenerateKeyRequest{
		Op: op.proto(pb.Operation_KEYGEN), TokenUri: req.TokenURI, Label: req.Label,
		Id: req.ID, Algorithm: string(req.Algorithm), Bits: int32(req.Bits),
	})
	if err != nil {
		return Key{}, fromHost(err)
	}
	return keyFromProto(resp)
}

// CreateCSR returns a DER PKCS#10 request for the key named by keyURI,
// with the subject, SANs and extensions of template (its key and signature
// fields are ignored), signed by the host. The host asks the person (and
// the PIN).
func (k *KeyService) CreateCSR(ctx context.Context, keyURI string, template *x509.CertificateRequest, op Operation) ([]byte, error) {
	req := &pb.CreateCSRRequest{Op: op.proto(pb.Operation_CSR), KeyUri: keyURI}
	if template != nil {
		// The template travels as a DER request self-signed by a throwaway
		// key: it carries subject, SANs and extensions in their exact form.
		der, err := templateDER(template)
		if err != nil {
			return nil, fmt.Errorf("CSR template: %w", err)
		}
		req.Template = der
	}
	resp, err := k.c.CreateCSR(ctx, req)
	if err != nil {
		return nil, fromHost(err)
	}
	return resp.GetCsr(), nil
}

// ImportCertificate stores a certificate (and chain) next to its key. The
// host asks the person (and the PIN).
func (k *KeyService) ImportCertificate(ctx context.Context, req ImportCertificateRequest, op Operation) (Key, error) {
	if req.Certificate == nil {
		return Key{}, fmt.Errorf("import certificate: no certificate: %w", ErrInvalidRequest)
	}
	preq := &pb.ImportCertificateRequest{
		Op: op.proto(pb.Operation_IMPORT), KeyUri: req.KeyURI, TokenUri: req.TokenURI,
		Label: req.Label, Certificate: req.Certificate.Raw,
	}
	for _, c := range req.Chain {
		preq.Chain = append(preq.Chain, c.Raw)
	}
	resp, err := k.c.ImportCertificate(ctx, preq)
	if err != nil {
		return Key{}, fromHost(err)
	}
	return keyFromProto(resp)
}

func keyFromProto(k *pb.Key) (Key, error) {
	key, err := wire.KeyFromProto(k)
	if err != nil {
		return Key{}, err
	}
	return keyFromStore(key), nil
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Container is a key container (a PKCS#12 file) a plugin uploaded to the
// host with OpenContainer.
type Container struct {
	// Handle names the container to CloseContainer and UnlockContainer.
	Handle string
	// Keys are its entries, used by URI like any key. A container whose
	// certificates are encrypted lists its keys without a certificate
	// until the first use unlocks it.
	Keys []Key
}

// OpenContainer hands the host a PKCS#12 key container (at most 256 KiB)
// that a page uploaded. The host keeps it in memory for this plugin and
// op.Origin only (another plugin or origin finds no such key), asks the
// person for its password on the first use of a key (consent is asked for
// each use as for any key), and forgets it on CloseContainer or when the
// plugin exits. A malformed or oversized container is ErrInvalidRequest.
func (k *KeyService) OpenContainer(ctx context.Context, data []byte, op Operation) (Container, error) {
	resp, err := k.c.OpenContainer(ctx, &pb.OpenContainerRequest{Op: op.proto(pb.Operation_LIST), Data: data})
	if err != nil {
		return Container{}, fromHost(err)
	}
	c := Container{Handle: resp.GetHandle()}
	for _, pk := range resp.GetKeys() {
		key, err := keyFromProto(pk)
		if err != nil {
			_ = k.CloseContainer(context.WithoutCancel(ctx), c.Handle)
			return Container{}, err
		}
		c.Keys = append(c.Keys, key)
	}
	return c, nil
}

// CloseContainer makes the host forget a container and its unlocked keys.
func (k *KeyService) CloseContainer(ctx context.Context, handle string) error {
	_, err := k.c.CloseContainer(ctx, &pb.CloseContainerRequest{Handle: handle})
	return fromHost(err)
}

// UnlockContainer passes the host a container's password that a page
// sent. The host uses it only when its policy lets op.Origin pass
// passwords (used is then true, and a wrong password is ErrPINIncorrect);
// otherwise it drops it and asks the person on first use. The plugin must
// not keep, log or forward the password; wipe it after the call.
func (k *KeyService) UnlockContainer(ctx context.Context, handle string, password []byte, op Operation) (used bool, err error) {
	resp, err := k.c.UnlockContainer(ctx, &pb.UnlockContainerRequest{Op: op.proto(pb.Operation_LIST), Handle: handle, Password: password})
	if err != nil {
		return false, fromHost(err)
	}
	return resp.GetUsed(), nil
}
