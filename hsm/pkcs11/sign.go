package pkcs11

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
)

// DigestInfo prefixes for RSA PKCS#1 v1.5 (as in crypto/rsa).
var hashPrefixes = map[crypto.Hash][]byte{
	crypto.MD5:        {0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10},
	crypto.SHA1:       {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA224:     {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA256:     {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384:     {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512:     {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
	crypto.SHA512_224: {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x05, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA512_256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x06, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA3_256:   {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x08, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA3_384:   {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x09, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA3_512:   {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x0a, 0x05, 0x00, 0x04, 0x40},
	crypto.MD5SHA1:    {},
}

// hashMech maps a hash to its PKCS#11 digest mechanism and MGF1 generator.
func hashMech(h crypto.Hash) (mech, mgf uint, ok bool) {
	switch h {
	case crypto.SHA1:
		return p11.CKM_SHA_1, p11.CKG_MGF1_SHA1, true
	case crypto.SHA224:
		return p11.CKM_SHA224, p11.CKG_MGF1_SHA224, true
	case crypto.SHA256:
		return p11.CKM_SHA256, p11.CKG_MGF1_SHA256, true
	case crypto.SHA384:
		return p11.CKM_SHA384, p11.CKG_MGF1_SHA384, true
	case crypto.SHA512:
		return p11.CKM_SHA512, p11.CKG_MGF1_SHA512, true
	}
	return 0, 0, false
}

// signMechanism chooses the mechanism and the data to sign for ref, or
// refuses with ErrUnsupported/ErrInvalidRequest before the token is used.
func signMechanism(ref *keyRef, digest []byte, opts crypto.SignerOpts) (*p11.Mechanism, []byte, error) {
	if opts == nil {
		return nil, nil, fmt.Errorf("no signer options: %w", hsm.ErrInvalidRequest)
	}
	hf := opts.HashFunc()
	if isGOSTKeyType(ref.keyType) {
		return gostSignMechanism(ref, digest, hf, hf != 0)
	}
	if ref.keyType != ckkECEdwards && hf != 0 && len(digest) != hf.Size() {
		return nil, nil, fmt.Errorf("digest is %d bytes, %v needs %d: %w", len(digest), hf, hf.Size(), hsm.ErrInvalidRequest)
	}
	switch ref.keyType {
	case p11.CKK_RSA:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			mech, mgf, ok := hashMech(hf)
			if !ok {
				return nil, nil, fmt.Errorf("RSA-PSS with %v: %w", hf, hsm.ErrUnsupported)
			}
			salt := pss.SaltLength
			switch salt {
			case rsa.PSSSaltLengthEqualsHash:
				salt = hf.Size()
			case rsa.PSSSaltLengthAuto:
				if ref.bits == 0 {
					return nil, nil, fmt.Errorf("RSA-PSS with automatic salt: modulus size unknown: %w", hsm.ErrUnsupported)
				}
				salt = (ref.bits-1+7)/8 - 2 - hf.Size()
			}
			if salt < 0 {
				return nil, nil, fmt.Errorf("RSA-PSS salt length %d: %w", pss.SaltLength, hsm.ErrInvalidRequest)
			}
			return p11.NewMechanism(p11.CKM_RSA_PKCS_PSS, p11.NewPSSParams(mech, mgf, uint(salt))), digest, nil
		}
		prefix, ok := hashPrefixes[hf]
		if hf == 0 {
			prefix, ok = nil, true // digest is already a DigestInfo (or raw data)
		}
		if !ok {
			return nil, nil, fmt.Errorf("RSA PKCS#1 v1.5 with %v: %w", hf, hsm.ErrUnsupported)
		}
		data := make([]byte, 0, len(prefix)+len(digest))
		data = append(append(data, prefix...), digest...)
		return p11.NewMechanism(p11.CKM_RSA_PKCS, nil), data, nil
	case p11.CKK_EC:
		if hf == 0 {
			return nil, nil, fmt.Errorf("ECDSA needs a hash function in the signer options: %w", hsm.ErrInvalidRequest)
		}
		return p11.NewMechanism(p11.CKM_ECDSA, nil), digest, nil
	case ckkECEdwards:
		if hf != 0 {
			return nil, nil, fmt.Errorf("Ed25519 signs the whole message (hash %v given): %w", hf, hsm.ErrUnsupported)
		}
		if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
			return nil, nil, fmt.Errorf("Ed25519ctx: %w", hsm.ErrUnsupported)
		}
		return p11.NewMechanism(ckmEdDSA, nil), digest, nil
	}
	return nil, nil, fmt.Errorf("key type 0x%x: %w", ref.keyType, hsm.ErrUnsupported)
}

// ecdsaDER converts PKCS#11's r||s to the ASN.1 SEQUENCE { r INTEGER, s
// INTEGER } crypto.Signer returns. (Hand-written: it is on every ECDSA
// signature's path and cryptobyte/big.Int cost more than the rest of the
// backend's bookkeeping.)
func ecdsaDER(sig []byte) ([]byte, error) {
	if len(sig) == 0 || len(sig)%2 != 0 || len(sig) > 2*66 {
		return nil, fmt.Errorf("ECDSA signature of %d bytes from token", len(sig))
	}
	r, s := derInt(sig[:len(sig)/2]), derInt(sig[len(sig)/2:])
	body := 2 + len(r) + 2 + len(s)
	out := make([]byte, 0, 3+body)
	out = append(out, 0x30)
	if body >= 0x80 {
		out = append(out, 0x81)
	}
	out = append(out, byte(body), 0x02, byte(len(r)))
	out = append(out, r...)
	out = append(out, 0x02, byte(len(s)))
	return append(out, s...), nil
}

// derInt returns the DER INTEGER contents of the unsigned big-endian v.
func derInt(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 || v[0]&0x80 != 0 {
		return append([]byte{0}, v...)
	}
	return v
}

// signChoice is the mechanism chosen for one signature. It is chosen (and
// checked against the token's list) before a session is taken when the key
// is already known, else once the key is resolved, and only once per key.
type signChoice struct {
	digest []byte
	opts   crypto.SignerOpts

	key  *keyRef // what mech and data were chosen for
	mech *p11.Mechanism
	data []byte
}

func (c *signChoice) choose(s tokenState, ref *keyRef) error {
	if ref == nil || ref == c.key {
		return nil
	}
	mech, data, err := signMechanism(ref, c.digest, c.opts)
	if err != nil {
		return err
	}
	if err := needMechanism(s, mech.Mechanism); err != nil {
		return err
	}
	c.key, c.mech, c.data = ref, mech, data
	return nil
}

// Sign signs digest with the private key keyURI names (see hsm.KeyStore).
func (b *Backend) Sign(ctx context.Context, keyURI string, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	c := &signChoice{digest: digest, opts: opts}
	var sig []byte
	err := b.withSession(ctx, operation{what: "sign", uri: keyURI, key: true, check: c.choose}, func(s *session) error {
		if err := c.choose(s.tokenState, s.key); err != nil {
			return err
		}
		var err error
		sig, err = b.sign(ctx, s, c.mech, c.data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", safeURI(keyURI), err)
	}
	return sig, nil
}

// sign runs C_SignInit and C_Sign with the session's key (and the key's own
// login between them, when it always asks for its PIN), and returns the
// signature as crypto.Signer does.
func (b *Backend) sign(ctx context.Context, s *session, mech *p11.Mechanism, data []byte) ([]byte, error) {
	if err := b.api.SignInit(s.h, []*p11.Mechanism{mech}, s.key.priv); err != nil {
		return nil, err
	}
	if err := b.contextLogin(ctx, s); err != nil {
		return nil, err
	}
	sig, err := b.api.Sign(s.h, data)
	if err != nil {
		return nil, err
	}
	if s.key.keyType == p11.CKK_EC {
		return ecdsaDER(sig)
	}
	return sig, nil
}
