package pkcs11

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
)

// Decrypt decrypts with an RSA key: PKCS#1 v1.5 (nil opts or
// *rsa.PKCS1v15DecryptOptions) or OAEP (*rsa.OAEPOptions). A token that
// refuses the OAEP hash (SoftHSM 2.6 does SHA-1 only) gives ErrUnsupported.
func (b *Backend) Decrypt(ctx context.Context, keyURI string, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	mech, sessionKeyLen, err := decryptMechanism(opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", safeURI(keyURI), err)
	}
	check := func(s tokenState, _ *keyRef) error { return needMechanism(s, mech.Mechanism) }
	var plain []byte
	err = b.withSession(ctx, operation{what: "decrypt", uri: keyURI, key: true, check: check}, func(s *session) error {
		var err error
		plain, err = b.decrypt(ctx, s, mech, ciphertext)
		return err
	})
	if err != nil {
		if sessionKeyLen > 0 && isCode(err, p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE) {
			// As crypto/rsa: with SessionKeyLen set, a padding error yields a
			// random key instead of an error (Bleichenbacher).
			key := make([]byte, sessionKeyLen)
			_, _ = rand.Read(key)
			return key, nil
		}
		return nil, fmt.Errorf("%s: %w", safeURI(keyURI), err)
	}
	return plain, nil
}

// decryptMechanism chooses the mechanism for opts, and returns the session
// key length asked for by *rsa.PKCS1v15DecryptOptions (0 otherwise).
func decryptMechanism(opts crypto.DecrypterOpts) (mech *p11.Mechanism, sessionKeyLen int, err error) {
	switch o := opts.(type) {
	case nil:
		return p11.NewMechanism(p11.CKM_RSA_PKCS, nil), 0, nil
	//lint:ignore SA1019 CMS key transport and PKCS#11 CKM_RSA_PKCS are RSA PKCS #1 v1.5 by definition; portals still send it
	case *rsa.PKCS1v15DecryptOptions:
		return p11.NewMechanism(p11.CKM_RSA_PKCS, nil), o.SessionKeyLen, nil
	case *rsa.OAEPOptions:
		hm, mgf, ok := hashMech(o.Hash)
		if !ok {
			return nil, 0, fmt.Errorf("OAEP with %v: %w", o.Hash, hsm.ErrUnsupported)
		}
		if o.MGFHash != 0 && o.MGFHash != o.Hash {
			if _, mgf, ok = hashMech(o.MGFHash); !ok {
				return nil, 0, fmt.Errorf("OAEP MGF1 with %v: %w", o.MGFHash, hsm.ErrUnsupported)
			}
		}
		return p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, p11.NewOAEPParams(hm, mgf, p11.CKZ_DATA_SPECIFIED, o.Label)), 0, nil
	default:
		return nil, 0, fmt.Errorf("decrypter options %T: %w", opts, hsm.ErrUnsupported)
	}
}

// decrypt runs C_DecryptInit and C_Decrypt with the session's RSA key (and
// the key's own login between them, when it always asks for its PIN).
func (b *Backend) decrypt(ctx context.Context, s *session, mech *p11.Mechanism, ciphertext []byte) ([]byte, error) {
	if s.key.keyType != p11.CKK_RSA {
		return nil, fmt.Errorf("decrypt with a non-RSA key: %w", hsm.ErrUnsupported)
	}
	if err := b.api.DecryptInit(s.h, []*p11.Mechanism{mech}, s.key.priv); err != nil {
		if mech.Mechanism == p11.CKM_RSA_PKCS_OAEP && isCode(err, p11.CKR_MECHANISM_PARAM_INVALID, p11.CKR_ARGUMENTS_BAD) {
			return nil, fmt.Errorf("token %q refuses these OAEP parameters: %w: %w", s.tok.label, hsm.ErrUnsupported, err)
		}
		return nil, err
	}
	if err := b.contextLogin(ctx, s); err != nil {
		return nil, err
	}
	return b.api.Decrypt(s.h, ciphertext)
}
