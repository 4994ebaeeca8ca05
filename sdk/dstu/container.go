package dstu

import (
	"crypto/pbkdf2"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/signet-agent/signet/sdk/gost"
)

// ErrPassword is returned (wrapped) when a container does not decrypt to a
// key: a wrong password, or a damaged file (the formats carry no check
// that tells the two apart).
var ErrPassword = errors.New("dstu: wrong password or damaged key container")

// Container identifiers.
var (
	// OIDIITStore is IIT's proprietary key container (Key-6.dat).
	OIDIITStore = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 19398, 1, 1, 1, 2}
	// OIDPBES2 and OIDPBKDF2 are PKCS#5's.
	OIDPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	OIDPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	// OIDHMACGOST34311 is HMAC with GOST 34.311-95, PBKDF2's PRF in
	// Ukrainian containers.
	OIDHMACGOST34311 = asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 1, 1, 2}
	// OIDGOST28147CFB is GOST 28147-89 in CFB mode with parameters
	// SEQUENCE {iv OCTET STRING (8), dke OCTET STRING (64)}.
	OIDGOST28147CFB = asn1.ObjectIdentifier{1, 2, 804, 2, 1, 1, 1, 1, 1, 1, 3}
)

// Bounds on containers and their parameters.
const (
	// MaxContainer is the largest Key-6.dat or encrypted key read.
	MaxContainer = 64 << 10
	// Key6Iterations is IIT's fixed number of GOST 34.311 passes turning a
	// password into a Key-6.dat key.
	Key6Iterations = 10000
	// MaxPBKDF2Iterations bounds the PBKDF2 count of a PBES2 key.
	MaxPBKDF2Iterations = 1000000
)

// key6 is a Key-6.dat: SEQUENCE {SEQUENCE {OIDIITStore, SEQUENCE {mac
// OCTET STRING (4), pad OCTET STRING OPTIONAL}}, OCTET STRING data}.
type key6 struct {
	Header struct {
		Type   asn1.ObjectIdentifier
		Params struct {
			MAC []byte
			Pad []byte `asn1:"optional"`
		}
	}
	Data []byte
}

// IsKey6 reports whether data looks like an IIT Key-6.dat (without a
// password: the structure and the container OID only).
func IsKey6(data []byte) bool {
	_, err := parseKey6(data)
	return err == nil
}

func parseKey6(data []byte) (*key6, error) {
	if len(data) > MaxContainer {
		return nil, fmt.Errorf("dstu: Key-6.dat of %d bytes, at most %d", len(data), MaxContainer)
	}
	var k key6
	if rest, err := asn1.Unmarshal(data, &k); err != nil || len(rest) > 0 {
		return nil, errors.New("dstu: not a Key-6.dat: not a DER SEQUENCE {header, data}")
	}
	if !k.Header.Type.Equal(OIDIITStore) {
		return nil, fmt.Errorf("dstu: not a Key-6.dat: container type %v", k.Header.Type)
	}
	if len(k.Header.Params.MAC) != 4 {
		return nil, fmt.Errorf("dstu: Key-6.dat MAC of %d bytes, want 4", len(k.Header.Params.MAC))
	}
	if len(k.Header.Params.Pad) >= 8 || (len(k.Data)+len(k.Header.Params.Pad))%8 != 0 || len(k.Data) == 0 {
		return nil, fmt.Errorf("dstu: Key-6.dat data of %d bytes with %d bytes of padding is not whole 8-byte blocks",
			len(k.Data), len(k.Header.Params.Pad))
	}
	return &k, nil
}

// Key6Key derives the GOST 28147-89 key of a Key-6.dat from password: the
// GOST 34.311-95 digest of the password, then Key6Iterations−1 more
// digests of the previous digest.
func Key6Key(password []byte) []byte {
	d := Sum34311(password)
	for range Key6Iterations - 1 {
		d = Sum34311(d[:])
	}
	return d[:]
}

// ParseKey6 decrypts an IIT Key-6.dat with password and returns its
// signing key (the first key; a second, key-agreement key IIT keeps in the
// attributes is not read). The data and padding are decrypted with GOST
// 28147-89 in the basic mode under Key6Key(password) with the DKE S-box.
// The 4-byte MAC is not checked: how IIT computes it is not public; a
// wrong password shows as a plaintext that is not a key (ErrPassword).
func ParseKey6(data, password []byte) (*PrivateKey, error) {
	k, err := parseKey6(data)
	if err != nil {
		return nil, err
	}
	key := Key6Key(password)
	defer clear(key)
	c, err := gost.NewCipher(key, SBoxDKE)
	if err != nil {
		return nil, err
	}
	buf := append(append([]byte(nil), k.Data...), k.Header.Params.Pad...)
	defer clear(buf)
	for i := 0; i < len(buf); i += 8 {
		c.Decrypt(buf[i:], buf[i:])
	}
	return parseDecrypted(buf[:len(k.Data)])
}

// parseDecrypted reads a decrypted PrivateKeyInfo; anything that is not a
// DSTU key is taken as a wrong password.
func parseDecrypted(plain []byte) (*PrivateKey, error) {
	priv, err := ParsePrivateKey(plain)
	if err != nil {
		if errors.Is(err, ErrNotDSTU) {
			return nil, err
		}
		return nil, fmt.Errorf("%w (%v)", ErrPassword, err)
	}
	return priv, nil
}

// encryptedPrivateKeyInfo is PKCS#8's, with PBES2 parameters.
type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KDF        pkix.AlgorithmIdentifier
	Encryption pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

type gostCFBParams struct {
	IV  []byte
	DKE []byte `asn1:"optional"`
}

// ParseEncryptedPrivateKey decrypts a PKCS#8 EncryptedPrivateKeyInfo as
// Ukrainian CAs write DSTU keys (alone, or as the shrouded key bag of a
// PKCS#12 file): PBES2 with PBKDF2 over HMAC-GOST 34.311-95 and GOST
// 28147-89 in CFB mode with the S-box its parameters carry.
func ParseEncryptedPrivateKey(der, password []byte) (*PrivateKey, error) {
	plain, err := DecryptPBES2(der, password)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return parseDecrypted(plain)
}

// DecryptPBES2 returns the plaintext of an EncryptedPrivateKeyInfo (or
// PKCS#12 EncryptedData's content) under the GOST PBES2 scheme that
// ParseEncryptedPrivateKey describes.
func DecryptPBES2(der, password []byte) ([]byte, error) {
	if len(der) > MaxContainer {
		return nil, fmt.Errorf("dstu: encrypted key of %d bytes, at most %d", len(der), MaxContainer)
	}
	var e encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &e); err != nil || len(rest) > 0 {
		return nil, errors.New("dstu: not a DER EncryptedPrivateKeyInfo")
	}
	return DecryptPBES2Data(e.Algorithm, e.EncryptedData, password)
}

// DecryptPBES2Data decrypts data under the PBES2 AlgorithmIdentifier alg.
func DecryptPBES2Data(alg pkix.AlgorithmIdentifier, data, password []byte) ([]byte, error) {
	if !alg.Algorithm.Equal(OIDPBES2) {
		return nil, fmt.Errorf("dstu: encryption %v, want PBES2", alg.Algorithm)
	}
	var p pbes2Params
	if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
		return nil, errors.New("dstu: PBES2 parameters are malformed")
	}
	if !p.KDF.Algorithm.Equal(OIDPBKDF2) {
		return nil, fmt.Errorf("dstu: PBES2 key derivation %v, want PBKDF2", p.KDF.Algorithm)
	}
	var kdf pbkdf2Params
	if rest, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kdf); err != nil || len(rest) > 0 {
		return nil, errors.New("dstu: PBKDF2 parameters are malformed")
	}
	if !kdf.PRF.Algorithm.Equal(OIDHMACGOST34311) {
		return nil, fmt.Errorf("dstu: PBKDF2 PRF %v, want HMAC-GOST 34.311-95", kdf.PRF.Algorithm)
	}
	if kdf.Iterations < 1 || kdf.Iterations > MaxPBKDF2Iterations {
		return nil, fmt.Errorf("dstu: PBKDF2 iteration count %d outside 1…%d", kdf.Iterations, MaxPBKDF2Iterations)
	}
	if len(kdf.Salt) == 0 || len(kdf.Salt) > 64 || (kdf.KeyLength != 0 && kdf.KeyLength != gost.CipherKeySize) {
		return nil, fmt.Errorf("dstu: PBKDF2 salt of %d bytes or key length %d", len(kdf.Salt), kdf.KeyLength)
	}
	if !p.Encryption.Algorithm.Equal(OIDGOST28147CFB) {
		return nil, fmt.Errorf("dstu: PBES2 cipher %v, want GOST 28147-89 CFB", p.Encryption.Algorithm)
	}
	var cp gostCFBParams
	if rest, err := asn1.Unmarshal(p.Encryption.Parameters.FullBytes, &cp); err != nil || len(rest) > 0 || len(cp.IV) != 8 {
		return nil, errors.New("dstu: GOST 28147-89 CFB parameters are malformed (want an 8-byte IV)")
	}
	sbox := SBoxDKE
	if cp.DKE != nil {
		s, err := UnpackSBox(cp.DKE)
		if err != nil {
			return nil, err
		}
		sbox = s
	}
	key, err := pbkdf2.Key(New34311, string(password), kdf.Salt, kdf.Iterations, gost.CipherKeySize)
	if err != nil {
		return nil, fmt.Errorf("dstu: PBKDF2: %w", err)
	}
	defer clear(key)
	c, err := gost.NewCipher(key, sbox)
	if err != nil {
		return nil, err
	}
	return cfbDecrypt(c, cp.IV, data), nil
}

// cfbDecrypt is GOST 28147-89 CFB (64-bit feedback) decryption.
func cfbDecrypt(c *gost.Cipher, iv, data []byte) []byte {
	out := make([]byte, len(data))
	var reg, gamma [8]byte
	copy(reg[:], iv)
	for i := 0; i < len(data); i += 8 {
		c.Encrypt(gamma[:], reg[:])
		n := min(8, len(data)-i)
		copy(reg[:], data[i:i+n])
		for j := range n {
			out[i+j] = data[i+j] ^ gamma[j]
		}
	}
	return out
}

// IsEncryptedPrivateKey reports whether data looks like an
// EncryptedPrivateKeyInfo under the GOST PBES2 scheme (without a password:
// the structure and the OIDs only).
func IsEncryptedPrivateKey(data []byte) bool {
	if len(data) > MaxContainer {
		return false
	}
	var e encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(data, &e); err != nil || len(rest) > 0 || !e.Algorithm.Algorithm.Equal(OIDPBES2) {
		return false
	}
	var p pbes2Params
	if rest, err := asn1.Unmarshal(e.Algorithm.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
		return false
	}
	return p.Encryption.Algorithm.Equal(OIDGOST28147CFB)
}
