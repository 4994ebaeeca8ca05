package pfx

// Password-based encryption and MACs that go-pkcs12 does not know: PBES2
// with the GOST ciphers and PRFs (RFC 9337), and the GOST PKCS#12 MAC
// (RFC 9548: the key is the last 32 of 96 bytes of PBKDF2 with HMAC over
// the MAC's own digest). AES-CBC and the SHA-2 MACs are here too, because
// a file with a GOST key inside is refused by go-pkcs12 whatever protects
// it (OpenSSL's default export is AES-256-CBC with an HMAC-SHA-256 MAC).

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"io"
	"unicode/utf16"

	"golang.org/x/crypto/pbkdf2"

	"github.com/signet-agent/signet/sdk/gost"
)

var (
	oidHMACSHA1      = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidHMACGOST94    = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 10}
	oidHMACStreeb256 = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 4, 1}
	oidHMACStreeb512 = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 4, 2}

	oidSHA1        = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidGOST94      = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 9}
	oidStreebog256 = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 2, 2}
	oidStreebog512 = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 2, 3}

	oidAES128CBC       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidGOST28147       = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 21}
	oidMagmaCTRACPKM   = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 5, 1, 1}
	oidMagmaCTROMAC    = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 5, 1, 2}
	oidKuzCTRACPKM     = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 5, 2, 1}
	oidKuzCTROMAC      = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 5, 2, 2}
	oidParamSetZ       = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 2, 5, 1, 1}
	oidParamSetCProA   = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 31, 1}
	asn1NULL           = asn1.RawValue{FullBytes: []byte{5, 0}}
	errUnsupportedAlgo = errors.New("unsupported algorithm")
)

// errDecrypt is a decryption that produced garbage: a wrong password when
// the file has no MAC to tell.
var errDecrypt = errors.New("decryption failed")

// prfs are the PBKDF2 PRFs, by HMAC OID.
var prfs = map[string]func() hash.Hash{
	oidHMACSHA1.String():      sha1.New,
	oidHMACSHA256.String():    sha256.New,
	oidHMACSHA384.String():    sha512.New384,
	oidHMACSHA512.String():    sha512.New,
	oidHMACGOST94.String():    gost.New94CryptoPro,
	oidHMACStreeb256.String(): gost.NewStreebog256,
	oidHMACStreeb512.String(): gost.NewStreebog512,
}

// macDigests are the PKCS#12 MAC digests, by OID; gost marks those whose
// key comes from PBKDF2 (RFC 9548) rather than the PKCS#12 KDF.
var macDigests = map[string]struct {
	h    func() hash.Hash
	gost bool
}{
	oidSHA1.String():        {sha1.New, false},
	oidSHA256.String():      {sha256.New, false},
	oidSHA384.String():      {sha512.New384, false},
	oidSHA512.String():      {sha512.New, false},
	oidGOST94.String():      {gost.New94CryptoPro, true},
	oidStreebog256.String(): {gost.NewStreebog256, true},
	oidStreebog512.String(): {gost.NewStreebog512, true},
}

// gost28147Params are the parameters of id-Gost28147-89 (RFC 4357 §10.1).
type gost28147Params struct {
	IV       []byte
	ParamSet asn1.ObjectIdentifier
}

// gost2015Params are the parameters of the GOST R 34.12-2015 ciphers in
// CMS and PBES2 (R 1323565.1.024-2019, RFC 9337): ukm is the IV (half a
// block) followed, as OpenSSL's GOST engine writes it, by an 8-byte seed
// that only the OMAC variants use.
type gost2015Params struct {
	UKM []byte
}

// pbkdf2Key derives the PBES2 key from the PBKDF2 parameters. keyLen is
// what the cipher needs; a keyLength parameter must agree with it.
func pbkdf2Key(kdf pkix.AlgorithmIdentifier, password []byte, keyLen int) ([]byte, error) {
	if !kdf.Algorithm.Equal(oidPBKDF2) {
		return nil, fmt.Errorf("%w: PBES2 key derivation %v (only PBKDF2)", errUnsupportedAlgo, kdf.Algorithm)
	}
	var p pbkdf2Params
	if err := unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
		return nil, fmt.Errorf("%w: PBKDF2 parameters: %v", ErrMalformed, err)
	}
	var salt []byte
	if _, err := asn1.Unmarshal(p.Salt.FullBytes, &salt); err != nil {
		return nil, fmt.Errorf("%w: PBKDF2 salt is not an OCTET STRING: %v", ErrMalformed, err)
	}
	if p.Iterations < 1 || p.Iterations > maxIterations {
		return nil, fmt.Errorf("%w: PBKDF2 iteration count %d not in 1…%d", ErrMalformed, p.Iterations, maxIterations)
	}
	if p.KeyLength != 0 && p.KeyLength != keyLen {
		return nil, fmt.Errorf("%w: PBKDF2 key length %d, the cipher needs %d", ErrMalformed, p.KeyLength, keyLen)
	}
	prf := sha1.New // RFC 8018's default
	if len(p.PRF.Algorithm) > 0 {
		var ok bool
		if prf, ok = prfs[p.PRF.Algorithm.String()]; !ok {
			return nil, fmt.Errorf("%w: PBKDF2 PRF %v", errUnsupportedAlgo, p.PRF.Algorithm)
		}
	}
	return pbkdf2.Key(password, salt, p.Iterations, keyLen, prf), nil
}

// pbes2Decrypt decrypts data protected by PBES2 (RFC 8018 §6.2) with
// PBKDF2 and AES-CBC, GOST 28147-89 CFB (CryptoPro key meshing; S-box
// TC26 Z or CryptoPro A), Kuznyechik or Magma CTR-ACPKM. The password is
// used as its UTF-8 bytes, as OpenSSL and RFC 9337 do.
func pbes2Decrypt(alg pkix.AlgorithmIdentifier, password, data []byte) ([]byte, error) {
	var p pbes2Params
	if err := unmarshal(alg.Parameters.FullBytes, &p); err != nil {
		return nil, fmt.Errorf("%w: PBES2 parameters: %v", ErrMalformed, err)
	}
	enc := p.Enc
	out := make([]byte, len(data))
	switch {
	case enc.Algorithm.Equal(oidAES128CBC), enc.Algorithm.Equal(oidAES192CBC), enc.Algorithm.Equal(oidAES256CBC):
		keyLen := map[string]int{oidAES128CBC.String(): 16, oidAES192CBC.String(): 24, oidAES256CBC.String(): 32}[enc.Algorithm.String()]
		var iv []byte
		if err := unmarshal(enc.Parameters.FullBytes, &iv); err != nil || len(iv) != aes.BlockSize {
			return nil, fmt.Errorf("%w: AES-CBC IV is not a 16-byte OCTET STRING", ErrMalformed)
		}
		if len(data) == 0 || len(data)%aes.BlockSize != 0 {
			return nil, fmt.Errorf("%w: AES-CBC data is %d bytes, not whole blocks", ErrMalformed, len(data))
		}
		key, err := pbkdf2Key(p.KDF, password, keyLen)
		if err != nil {
			return nil, err
		}
		b, _ := aes.NewCipher(key)
		clear(key)
		cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, data)
		return unpad(out, aes.BlockSize)
	case enc.Algorithm.Equal(oidGOST28147):
		var gp gost28147Params
		if err := unmarshal(enc.Parameters.FullBytes, &gp); err != nil {
			return nil, fmt.Errorf("%w: GOST 28147-89 parameters: %v", ErrMalformed, err)
		}
		var sbox *gost.SBox
		switch {
		case gp.ParamSet.Equal(oidParamSetZ):
			sbox = gost.SBoxTC26Z
		case gp.ParamSet.Equal(oidParamSetCProA):
			sbox = gost.SBoxCryptoProA
		default:
			return nil, fmt.Errorf("%w: GOST 28147-89 parameter set %v (only TC26 Z and CryptoPro A)", errUnsupportedAlgo, gp.ParamSet)
		}
		key, err := pbkdf2Key(p.KDF, password, gost.CipherKeySize)
		if err != nil {
			return nil, err
		}
		s, err := gost.NewCFBMeshing(key, sbox, gp.IV, true)
		clear(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		s.XORKeyStream(out, data)
		return out, nil
	case enc.Algorithm.Equal(oidKuzCTRACPKM), enc.Algorithm.Equal(oidMagmaCTRACPKM):
		kuz := enc.Algorithm.Equal(oidKuzCTRACPKM)
		ivLen := map[bool]int{true: 8, false: 4}[kuz]
		var gp gost2015Params
		if err := unmarshal(enc.Parameters.FullBytes, &gp); err != nil {
			return nil, fmt.Errorf("%w: GOST R 34.12-2015 parameters: %v", ErrMalformed, err)
		}
		if len(gp.UKM) != ivLen && len(gp.UKM) != ivLen+8 {
			return nil, fmt.Errorf("%w: GOST R 34.12-2015 ukm is %d bytes, want %d or %d", ErrMalformed, len(gp.UKM), ivLen, ivLen+8)
		}
		key, err := pbkdf2Key(p.KDF, password, 32)
		if err != nil {
			return nil, err
		}
		defer clear(key)
		// The section OpenSSL's GOST engine re-keys after in PBES2, then
		// the one the CMS parameters name; they differ only for data
		// longer than the first, and the right one yields one DER value.
		sections := map[bool][2]int{true: {pbes2SectionKuznyechik, gost.KuznyechikCMSSection}, false: {pbes2SectionMagma, gost.MagmaCMSSection}}[kuz]
		for i, section := range sections {
			var s cipher.Stream
			if kuz {
				s, err = gost.NewKuznyechikCTRACPKM(key, gp.UKM[:ivLen], section)
			} else {
				s, err = gost.NewMagmaCTRACPKM(key, gp.UKM[:ivLen], section)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			s.XORKeyStream(out, data)
			if i == 1 || len(data) <= section || oneDER(out) {
				break
			}
		}
		return out, nil
	case enc.Algorithm.Equal(oidKuzCTROMAC), enc.Algorithm.Equal(oidMagmaCTROMAC):
		return nil, fmt.Errorf("%w: PBES2 cipher %v (CTR-ACPKM-OMAC with its key tree is not implemented)", errUnsupportedAlgo, enc.Algorithm)
	}
	return nil, fmt.Errorf("%w: PBES2 cipher %v", errUnsupportedAlgo, enc.Algorithm)
}

// The CTR-ACPKM sections OpenSSL's GOST engine uses in PBES2: its cipher
// initialisation resets them to 4 KiB (Kuznyechik) and 1 KiB (Magma)
// after reading the parameters that set the CMS values.
const (
	pbes2SectionKuznyechik = 4096
	pbes2SectionMagma      = 1024
)

// oneDER reports whether b is exactly one DER value.
func oneDER(b []byte) bool {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(b, &v)
	return err == nil && len(rest) == 0
}

// unpad removes PKCS#7 padding; bad padding is errDecrypt.
func unpad(b []byte, bs int) ([]byte, error) {
	if len(b) == 0 {
		return nil, errDecrypt
	}
	n := int(b[len(b)-1])
	if n == 0 || n > bs || n > len(b) {
		return nil, errDecrypt
	}
	for _, v := range b[len(b)-n:] {
		if int(v) != n {
			return nil, errDecrypt
		}
	}
	return b[:len(b)-n], nil
}

// pbes2EncryptKuznyechik encrypts data as the TC26 PKCS#12 profile does:
// PBES2 with PBKDF2-HMAC-Streebog-512 (iter iterations, an 8-byte salt)
// and Kuznyechik CTR-ACPKM, the ukm being an 8-byte IV and 8 zero bytes
// (OpenSSL's GOST engine reads exactly 16). data must not be longer than
// 4 KiB, where the engine's section and the CMS one agree.
func pbes2EncryptKuznyechik(rnd io.Reader, password, data []byte, iter int) (pkix.AlgorithmIdentifier, []byte, error) {
	salt := make([]byte, 8)
	ukm := make([]byte, 16)
	if _, err := io.ReadFull(rnd, salt); err != nil {
		return pkix.AlgorithmIdentifier{}, nil, fmt.Errorf("random salt: %w", err)
	}
	if _, err := io.ReadFull(rnd, ukm[:8]); err != nil {
		return pkix.AlgorithmIdentifier{}, nil, fmt.Errorf("random IV: %w", err)
	}
	saltDER, err := asn1.Marshal(salt)
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	kdfParams, err := asn1.Marshal(pbkdf2Params{
		Salt:       asn1.RawValue{FullBytes: saltDER},
		Iterations: iter,
		PRF:        pkix.AlgorithmIdentifier{Algorithm: oidHMACStreeb512, Parameters: asn1NULL},
	})
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	encParams, err := asn1.Marshal(gost2015Params{UKM: ukm})
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	params, err := asn1.Marshal(pbes2Params{
		KDF: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdfParams}},
		Enc: pkix.AlgorithmIdentifier{Algorithm: oidKuzCTRACPKM, Parameters: asn1.RawValue{FullBytes: encParams}},
	})
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	if len(data) > pbes2SectionKuznyechik {
		return pkix.AlgorithmIdentifier{}, nil, fmt.Errorf("%d bytes to encrypt, more than the %d one CTR-ACPKM section holds", len(data), pbes2SectionKuznyechik)
	}
	key := gost.PBKDF2Streebog512(password, salt, iter, 32)
	s, err := gost.NewKuznyechikCTRACPKM(key, ukm[:8], pbes2SectionKuznyechik)
	clear(key)
	if err != nil {
		return pkix.AlgorithmIdentifier{}, nil, err
	}
	out := make([]byte, len(data))
	s.XORKeyStream(out, data)
	return pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}}, out, nil
}

// macKey derives the PKCS#12 MAC key: for the GOST digests the last 32 of
// 96 bytes of PBKDF2 with HMAC over that digest and the UTF-8 password
// (RFC 9548 §3, as OpenSSL does); otherwise the PKCS#12 KDF (RFC 7292
// §B.2, ID 3) over the BMPString password, as long as the digest.
func macKey(digest asn1.ObjectIdentifier, password, salt []byte, iter int) (func() hash.Hash, []byte, error) {
	d, ok := macDigests[digest.String()]
	if !ok {
		return nil, nil, fmt.Errorf("%w: MAC digest %v", errUnsupportedAlgo, digest)
	}
	if iter < 1 || iter > maxIterations {
		return nil, nil, fmt.Errorf("%w: MAC iteration count %d not in 1…%d", ErrMalformed, iter, maxIterations)
	}
	if d.gost {
		k := pbkdf2.Key(password, salt, iter, 96, d.h)
		key := append([]byte(nil), k[64:]...)
		clear(k)
		return d.h, key, nil
	}
	bmp, err := bmpPassword(password)
	if err != nil {
		return nil, nil, err
	}
	key := pkcs12KDF(d.h, bmp, salt, 3, iter, d.h().Size())
	clear(bmp)
	return d.h, key, nil
}

// bmpPassword is the password as a NUL-terminated big-endian UTF-16
// string (RFC 7292 §B.1); the empty password is two zero bytes.
func bmpPassword(password []byte) ([]byte, error) {
	u := utf16.Encode([]rune(string(password)))
	out := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		out = append(out, byte(c>>8), byte(c))
	}
	clear(u)
	return append(out, 0, 0), nil
}

// pkcs12KDF is the key derivation of RFC 7292 §B.2 with purpose id.
func pkcs12KDF(newHash func() hash.Hash, password, salt []byte, id byte, iter, size int) []byte {
	h := newHash()
	v := h.BlockSize()
	fill := func(src []byte) []byte {
		if len(src) == 0 {
			return nil
		}
		n := v * ((len(src) + v - 1) / v)
		out := make([]byte, n)
		for i := range out {
			out[i] = src[i%len(src)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	I := append(fill(salt), fill(password)...)
	defer clear(I)
	var out []byte
	for len(out) < size {
		h.Reset()
		h.Write(d)
		h.Write(I)
		a := h.Sum(nil)
		for j := 1; j < iter; j++ {
			h.Reset()
			h.Write(a)
			a = h.Sum(a[:0])
		}
		out = append(out, a...)
		if len(out) >= size {
			break
		}
		// I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I.
		b := fill(a)[:v]
		for j := 0; j < len(I); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				s := int(I[j+k]) + int(b[k]) + carry
				I[j+k] = byte(s)
				carry = s >> 8
			}
		}
	}
	res := append([]byte(nil), out[:size]...)
	clear(out)
	return res
}

// computeMAC is the PKCS#12 MAC of authSafe (the content octets of the
// AuthenticatedSafe) under the given digest, password, salt and count.
func computeMAC(digest asn1.ObjectIdentifier, password, salt []byte, iter int, authSafe []byte) ([]byte, error) {
	h, key, err := macKey(digest, password, salt, iter)
	if err != nil {
		return nil, err
	}
	m := hmac.New(h, key)
	clear(key)
	m.Write(authSafe)
	return m.Sum(nil), nil
}

// The PKCS#12 PBE algorithms (RFC 7292 §C) of JDK and BouncyCastle key
// stores: SHA-1 with two- or three-key triple DES, or RC2 (128 or 40 bits).
var (
	oidPBESHA3DES   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidPBESHA2DES   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 4}
	oidPBESHARC2128 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidPBESHARC240  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
)

// pkcs12PBECrypt encrypts or decrypts data with a PKCS#12 PBE algorithm:
// key (ID 1) and IV (ID 2) from the PKCS#12 KDF with SHA-1 over the
// BMPString password, CBC with PKCS#7 padding. A bad padding is errDecrypt.
func pkcs12PBECrypt(alg asn1.ObjectIdentifier, password, salt []byte, iter int, data []byte, decrypt bool) ([]byte, error) {
	if iter < 1 || iter > maxIterations {
		return nil, fmt.Errorf("%w: PBE iteration count %d not in 1…%d", ErrMalformed, iter, maxIterations)
	}
	var keyLen, eff int
	switch {
	case alg.Equal(oidPBESHA3DES):
		keyLen = 24
	case alg.Equal(oidPBESHA2DES):
		keyLen = 16
	case alg.Equal(oidPBESHARC2128):
		keyLen, eff = 16, 128
	case alg.Equal(oidPBESHARC240):
		keyLen, eff = 5, 40
	default:
		return nil, fmt.Errorf("%w: PBE algorithm %v", errUnsupportedAlgo, alg)
	}
	bmp, err := bmpPassword(password)
	if err != nil {
		return nil, err
	}
	defer clear(bmp)
	key := pkcs12KDF(sha1.New, bmp, salt, 1, iter, keyLen)
	defer clear(key)
	iv := pkcs12KDF(sha1.New, bmp, salt, 2, iter, 8)
	var b cipher.Block
	if eff > 0 {
		b = newRC2(key, eff)
	} else {
		k := key
		if keyLen == 16 {
			k = append(append([]byte(nil), key...), key[:8]...)
			defer clear(k)
		}
		if b, err = des.NewTripleDESCipher(k); err != nil {
			return nil, err
		}
	}
	if decrypt {
		if len(data) == 0 || len(data)%8 != 0 {
			return nil, fmt.Errorf("%w: PBE data is %d bytes, not whole blocks", ErrMalformed, len(data))
		}
		out := make([]byte, len(data))
		cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, data)
		return unpad(out, 8)
	}
	n := 8 - len(data)%8
	out := append(append([]byte(nil), data...), bytes.Repeat([]byte{byte(n)}, n)...)
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, out)
	return out, nil
}

// pbeDecrypt decrypts with PBES2 or a PKCS#12 PBE algorithm.
func pbeDecrypt(alg pkix.AlgorithmIdentifier, password, data []byte) ([]byte, error) {
	if alg.Algorithm.Equal(oidPBES2) {
		return pbes2Decrypt(alg, password, data)
	}
	if len(alg.Algorithm) == len(oidPKCS12PBEPrefix)+1 && alg.Algorithm[:len(oidPKCS12PBEPrefix)].Equal(oidPKCS12PBEPrefix) {
		var p pbeParams
		if err := unmarshal(alg.Parameters.FullBytes, &p); err != nil {
			return nil, fmt.Errorf("%w: PBE parameters: %v", ErrMalformed, err)
		}
		return pkcs12PBECrypt(alg.Algorithm, password, p.Salt, p.Iterations, data, true)
	}
	return nil, fmt.Errorf("%w: encryption %v", errUnsupportedAlgo, alg.Algorithm)
}
