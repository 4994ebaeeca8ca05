package cms

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// KeyAgreer is the private-key operation Decrypt needs for an EC recipient
// (RFC 5753 ephemeral-static ECDH): the raw Diffie-Hellman shared secret
// with the sender's ephemeral public key. It is declared here, by its
// consumer, so that any key store can satisfy it without importing more of
// this package.
//
// *ecdh.PrivateKey implements KeyAgreer as it is; *ecdsa.PrivateKey is
// accepted by Decrypt directly (and by NewKeyAgreer).
//
// # Implementing it on a token
//
// A PKCS#11 implementation keeps the private key on the token and uses
// CKM_ECDH1_DERIVE with CK_ECDH1_DERIVE_PARAMS{kdf: CKD_NULL, pSharedData:
// nil, pPublicData: peer.Bytes()} (the uncompressed point 04||X||Y; a few
// modules want it wrapped in a DER OCTET STRING), deriving a
// CKK_GENERIC_SECRET object with CKA_VALUE_LEN equal to the field size in
// bytes (32 for P-256, 48 for P-384, 66 for P-521), CKA_TOKEN false,
// CKA_SENSITIVE false and CKA_EXTRACTABLE true; it reads CKA_VALUE and
// destroys the derived object. The KDF and key unwrap run here, in software.
// envelope_softhsm_test.go has a working example against SoftHSM2.
//
// Like hsm.Signer for signing, a key-store adapter binds the caller's
// context (PIN prompt, cancellation) when it is made, since ECDH takes
// none; errors it returns (hsm.ErrCancelled, hsm.ErrTokenRemoved, …) reach
// Decrypt's caller wrapped, for errors.Is. Across the plugin boundary, an
// hsm capability such as DeriveECDH(ctx, keyURI, peer) ([]byte, error) and a
// matching SDK call would back it; neither exists yet.
type KeyAgreer interface {
	// Public returns the recipient's public key: *ecdsa.PublicKey or
	// *ecdh.PublicKey. Decrypt checks it against the certificate.
	Public() crypto.PublicKey
	// ECDH returns the shared secret Z: the X coordinate of d·peer, as a
	// big-endian byte string of the field size (SEC 1 §3.3.1), exactly what
	// (*ecdh.PrivateKey).ECDH returns. peer is on the recipient's curve.
	ECDH(peer *ecdh.PublicKey) ([]byte, error)
}

// NewKeyAgreer adapts an in-memory EC private key (*ecdsa.PrivateKey or
// *ecdh.PrivateKey on P-256, P-384 or P-521) to KeyAgreer. Any value that
// already implements KeyAgreer is returned as it is.
func NewKeyAgreer(key crypto.PrivateKey) (KeyAgreer, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		ek, err := k.ECDH()
		if err != nil {
			return nil, fmt.Errorf("cms: EC key agreement: %w", err)
		}
		return ek, nil
	case KeyAgreer:
		return k, nil
	default:
		return nil, fmt.Errorf("cms: key of type %T cannot do EC key agreement", key)
	}
}

// OIDs used only by the EC key agreement recipients (RFC 5753, RFC 3565).
var (
	envOIDCurveP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	envOIDCurveP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	envOIDCurveP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}

	// dhSinglePass-stdDH-shaXkdf-scheme (RFC 5753 §7.1.4, SEC 1).
	envOIDStdDHSHA1KDF   = asn1.ObjectIdentifier{1, 3, 133, 16, 840, 63, 0, 2}
	envOIDStdDHSHA224KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 0}
	envOIDStdDHSHA256KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 1}
	envOIDStdDHSHA384KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 2}
	envOIDStdDHSHA512KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 11, 3}
	// dhSinglePass-cofactorDH-shaXkdf-scheme. The NIST prime curves have
	// cofactor 1, so cofactor DH equals standard DH on them.
	envOIDCofactorDHSHA1KDF   = asn1.ObjectIdentifier{1, 3, 133, 16, 840, 63, 0, 3}
	envOIDCofactorDHSHA224KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 0}
	envOIDCofactorDHSHA256KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 1}
	envOIDCofactorDHSHA384KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 2}
	envOIDCofactorDHSHA512KDF = asn1.ObjectIdentifier{1, 3, 132, 1, 14, 3}

	// id-aesN-wrap (RFC 3565).
	envOIDAES128Wrap = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 5}
	envOIDAES192Wrap = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 25}
	envOIDAES256Wrap = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 45}
	// id-alg-CMS3DESwrap (RFC 3217): what OpenSSL uses for EC recipients
	// when the content cipher is Triple-DES, its default.
	envOIDCMS3DESWrap = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 3, 6}
)

// envAES256WrapAlg is the DER AlgorithmIdentifier Encrypt writes for the
// key wrap: id-aes256-wrap with absent parameters (RFC 3565).
var envAES256WrapAlg = []byte{0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2d}

// envECDHKDFHash maps a key agreement scheme OID to the hash of its X9.63 KDF.
func envECDHKDFHash(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(envOIDStdDHSHA1KDF), oid.Equal(envOIDCofactorDHSHA1KDF):
		return crypto.SHA1, true
	case oid.Equal(envOIDStdDHSHA224KDF), oid.Equal(envOIDCofactorDHSHA224KDF):
		return crypto.SHA224, true
	case oid.Equal(envOIDStdDHSHA256KDF), oid.Equal(envOIDCofactorDHSHA256KDF):
		return crypto.SHA256, true
	case oid.Equal(envOIDStdDHSHA384KDF), oid.Equal(envOIDCofactorDHSHA384KDF):
		return crypto.SHA384, true
	case oid.Equal(envOIDStdDHSHA512KDF), oid.Equal(envOIDCofactorDHSHA512KDF):
		return crypto.SHA512, true
	}
	return 0, false
}

// envKeyWrapKEKLen maps an AES key wrap OID to its key-encryption key length.
func envKeyWrapKEKLen(oid asn1.ObjectIdentifier) (int, bool) {
	switch {
	case oid.Equal(envOIDAES128Wrap):
		return 16, true
	case oid.Equal(envOIDAES192Wrap):
		return 24, true
	case oid.Equal(envOIDAES256Wrap):
		return 32, true
	case oid.Equal(envOIDCMS3DESWrap):
		return 24, true
	}
	return 0, false
}

// envECDHCurve returns the crypto/ecdh curve and its named-curve OID for an
// ECDSA public key from a certificate.
func envECDHCurve(pub *ecdsa.PublicKey) (ecdh.Curve, asn1.ObjectIdentifier, error) {
	switch pub.Curve.Params().Name {
	case "P-256":
		return ecdh.P256(), envOIDCurveP256, nil
	case "P-384":
		return ecdh.P384(), envOIDCurveP384, nil
	case "P-521":
		return ecdh.P521(), envOIDCurveP521, nil
	}
	return nil, nil, fmt.Errorf("cms: EC curve %s is not supported for key agreement", pub.Curve.Params().Name)
}

// envECCSharedInfo encodes ECC-CMS-SharedInfo (RFC 5753 §7.2): the key wrap
// AlgorithmIdentifier exactly as the KeyAgreeRecipientInfo carries it
// (wrapAlg, DER), the optional user keying material and the KEK length in
// bits.
func envECCSharedInfo(wrapAlg []byte, ukm []byte, kekLen int) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(wrapAlg)
		if ukm != nil {
			b.AddASN1(casn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(ukm)
			})
		}
		b.AddASN1(casn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			var bits [4]byte
			binary.BigEndian.PutUint32(bits[:], uint32(kekLen*8))
			b.AddASN1OctetString(bits[:])
		})
	})
	return b.Bytes()
}

// envX963KDF is the ANSI X9.63 key derivation function (SEC 1 §3.6.1):
// Hash(Z || counter || SharedInfo) for counter = 1, 2, … truncated to n bytes.
func envX963KDF(h crypto.Hash, z, sharedInfo []byte, n int) ([]byte, error) {
	if !h.Available() {
		return nil, errors.New("cms: KDF hash is not available")
	}
	out := make([]byte, 0, n+h.Size())
	var ctr [4]byte
	for counter := uint32(1); len(out) < n; counter++ {
		d := h.New()
		binary.BigEndian.PutUint32(ctr[:], counter)
		d.Write(z)
		d.Write(ctr[:])
		d.Write(sharedInfo)
		out = d.Sum(out)
	}
	return out[:n], nil
}

// envDeriveKEK runs the RFC 5753 KDF for one recipient.
func envDeriveKEK(h crypto.Hash, z []byte, wrapAlg []byte, ukm []byte, kekLen int) ([]byte, error) {
	si, err := envECCSharedInfo(wrapAlg, ukm, kekLen)
	if err != nil {
		return nil, fmt.Errorf("cms: encode ECC-CMS-SharedInfo: %w", err)
	}
	return envX963KDF(h, z, si, kekLen)
}
