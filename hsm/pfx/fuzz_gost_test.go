package pfx

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/sdk/gost"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// pbes2Seed is PBES2 parameters with PBKDF2 (prf, 2 iterations) and the
// cipher enc with its parameters.
func pbes2Seed(t testing.TB, prf asn1.ObjectIdentifier, enc asn1.ObjectIdentifier, encParams any) []byte {
	salt, err := asn1.Marshal([]byte("saltsalt"))
	require.NoError(t, err)
	kdf, err := asn1.Marshal(pbkdf2Params{Salt: asn1.RawValue{FullBytes: salt}, Iterations: 2, PRF: pkix.AlgorithmIdentifier{Algorithm: prf, Parameters: asn1NULL}})
	require.NoError(t, err)
	ep, err := asn1.Marshal(encParams)
	require.NoError(t, err)
	p, err := asn1.Marshal(pbes2Params{
		KDF: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		Enc: pkix.AlgorithmIdentifier{Algorithm: enc, Parameters: asn1.RawValue{FullBytes: ep}},
	})
	require.NoError(t, err)
	return p
}

// FuzzPBES2Params: arbitrary PBES2 parameters and data never panic, and
// every failure is a malformed file, an unsupported algorithm or a failed
// decryption.
func FuzzPBES2Params(f *testing.F) {
	f.Add(pbes2Seed(f, oidHMACStreeb512, oidKuzCTRACPKM, gost2015Params{UKM: make([]byte, 16)}), []byte("data"))
	f.Add(pbes2Seed(f, oidHMACSHA256, oidMagmaCTRACPKM, gost2015Params{UKM: make([]byte, 12)}), make([]byte, 2000))
	f.Add(pbes2Seed(f, oidHMACGOST94, oidGOST28147, gost28147Params{IV: make([]byte, 8), ParamSet: oidParamSetZ}), []byte("data"))
	f.Add(pbes2Seed(f, oidHMACStreeb256, oidGOST28147, gost28147Params{IV: make([]byte, 8), ParamSet: oidParamSetCProA}), []byte("data"))
	f.Add(pbes2Seed(f, oidHMACSHA1, oidAES256CBC, make([]byte, 16)), make([]byte, 32))
	f.Add(pbes2Seed(f, oidHMACSHA1, oidKuzCTROMAC, gost2015Params{UKM: make([]byte, 40)}), []byte("data"))
	old := maxIterations
	maxIterations = 16
	f.Cleanup(func() { maxIterations = old })
	f.Fuzz(func(t *testing.T, params, data []byte) {
		alg := pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}}
		out, err := pbes2Decrypt(alg, []byte("pw"), data)
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, errUnsupportedAlgo) || errors.Is(err, errDecrypt), "unexpected error %v", err)
			return
		}
		require.LessOrEqual(t, len(out), len(data))
	})
}

// FuzzDecodePBES2File: arbitrary files through the GOST PKCS#12 path never
// panic; a file that decodes has keys that sign and only certificates.
func FuzzDecodePBES2File(f *testing.F) {
	pki, err := softhsmtest.NewPKI("Fuzz GOST")
	require.NoError(f, err)
	k, err := pki.NewSoftwareKey(softhsmtest.ECP256, softhsmtest.IssueOptions{Subject: pkix.Name{CommonName: "fuzz"}})
	require.NoError(f, err)
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	require.NoError(f, err)
	data, err := encodeTC26(rand.Reader, der, append([]*x509.Certificate{k.Certificate}, k.Chain...), "fuzz", []byte("pw"), 2)
	require.NoError(f, err)
	f.Add(data)
	f.Add(data[:len(data)/2])
	// An O'zDSt key in a JDK/BouncyCastle file: 3DES key bag, RC2-40
	// certificates, SHA-1 MAC.
	ok, chain := ozdstKey(f)
	okDER, err := gost.MarshalOzDStPKCS8PrivateKey(ok)
	require.NoError(f, err)
	f.Add(encodeJavaStyle(f, okDER, chain, "fuzz", []byte("pw"), 2))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03})
	// The seed uses 2 iterations; a low bound keeps each run fast.
	old := maxIterations
	maxIterations = 16
	f.Cleanup(func() { maxIterations = old })
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodePBES2File(data, []byte("pw"))
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, errUnsupportedAlgo) ||
				errors.Is(err, ErrTooLarge) || errors.Is(err, pkcs12.ErrIncorrectPassword), "unexpected error %v", err)
			return
		}
		for _, dk := range d.keys {
			require.NotNil(t, dk.key.Public())
		}
		for _, c := range d.certs {
			require.NotEmpty(t, c.Raw)
		}
	})
}
