package dstu_test

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/dstu/dstutest"
)

// jkurwaCurves are the curves jkurwa knows by name.
var jkurwaCurves = map[string]*dstu.Curve{"DSTU_PB_257": dstu.Curve257, "DSTU_PB_431": dstu.Curve431}

// certKey is the compressed key as jkurwa's serialize writes it: the
// OCTET STRING of a certificate's subjectPublicKey.
func certKey(t *testing.T, pub *dstu.PublicKey) string {
	b, err := asn1.Marshal(pub.Compressed())
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func parseCertKey(t *testing.T, c *dstu.Curve, der []byte) *dstu.PublicKey {
	var raw []byte
	rest, err := asn1.Unmarshal(der, &raw)
	require.NoError(t, err)
	require.Empty(t, rest)
	pub, err := dstu.ParseCompressed(c, raw)
	require.NoError(t, err)
	return pub
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestJkurwaHashAgrees(t *testing.T) {
	jk := dstutest.Jkurwa(t)
	var inputs [][]byte
	var reqs []dstutest.Req
	for _, n := range []int{0, 1, 31, 32, 33, 64, 100, 1000, 4097} {
		in := randomBytes(n)
		inputs = append(inputs, in)
		reqs = append(reqs, dstutest.Req{"op": "hash", "data": hex.EncodeToString(in)})
	}
	for i, res := range jk.Run(t, reqs...) {
		want := dstu.Sum34311(inputs[i])
		assert.Equal(t, hex.EncodeToString(want[:]), res.Str(t, "digest"), "%d bytes", len(inputs[i]))
	}
}

func TestJkurwaVerifiesOurSignatures(t *testing.T) {
	jk := dstutest.Jkurwa(t)
	for name, c := range jkurwaCurves {
		t.Run(name, func(t *testing.T) {
			k, err := dstu.GenerateKey(c, nil)
			require.NoError(t, err)
			var reqs []dstutest.Req
			// jkurwa derives the public key from our scalar: Q = −d·P and
			// its compression agree.
			reqs = append(reqs, dstutest.Req{"op": "sign", "curve": name, "d": k.D.Text(16), "digest": hex.EncodeToString(randomBytes(32))})
			var sigs [][]byte
			for range 4 {
				digest := randomBytes(32)
				sig, err := k.Sign(nil, digest, nil)
				require.NoError(t, err)
				sigs = append(sigs, sig)
				reqs = append(reqs, dstutest.Req{"op": "verify", "curve": name, "pub": certKey(t, &k.PublicKey),
					"digest": hex.EncodeToString(digest), "sig": hex.EncodeToString(sig)})
				other := append([]byte{digest[0] ^ 0x80}, digest[1:]...)
				reqs = append(reqs, dstutest.Req{"op": "verify", "curve": name, "pub": certKey(t, &k.PublicKey),
					"digest": hex.EncodeToString(other), "sig": hex.EncodeToString(sig)})
			}
			res := jk.Run(t, reqs...)
			assert.Equal(t, certKey(t, &k.PublicKey), res[0].Str(t, "pub"))
			for i := range sigs {
				assert.True(t, res[1+2*i].Bool(t, "ok"), "signature %d", i)
				assert.False(t, res[2+2*i].Bool(t, "ok"), "signature %d over another digest", i)
			}
		})
	}
}

func TestJkurwaSignaturesVerifyHere(t *testing.T) {
	jk := dstutest.Jkurwa(t)
	for name, c := range jkurwaCurves {
		t.Run(name, func(t *testing.T) {
			key := jk.Run(t, dstutest.Req{"op": "keygen", "curve": name})[0]
			d, ok := new(big.Int).SetString(key.Str(t, "d"), 16)
			require.True(t, ok)
			d.Mod(d, c.N) // jkurwa's key generation can leave d ≥ N
			pub := parseCertKey(t, c, key.Bytes(t, "pub"))
			mine, err := dstu.NewPrivateKey(c, d)
			require.NoError(t, err)
			assert.True(t, pub.Equal(&mine.PublicKey), "the same scalar gives the same public key")

			var reqs []dstutest.Req
			var digests [][]byte
			for range 4 {
				digest := randomBytes(32)
				digests = append(digests, digest)
				reqs = append(reqs, dstutest.Req{"op": "sign", "curve": name, "d": key.Str(t, "d"), "digest": hex.EncodeToString(digest)})
			}
			for i, res := range jk.Run(t, reqs...) {
				sig := res.Bytes(t, "sig")
				require.NoError(t, pub.Verify(digests[i], sig), "jkurwa signature %d", i)
				digests[i][5] ^= 1
				assert.ErrorIs(t, pub.Verify(digests[i], sig), dstu.ErrSignature)
			}
		})
	}
}

// certSignature is a Ukrainian certificate's signature: the BIT STRING
// holds an OCTET STRING of r‖s, little-endian.
func certSignature(t *testing.T, cert *x509.Certificate) []byte {
	var sig []byte
	rest, err := asn1.Unmarshal(cert.Signature, &sig)
	require.NoError(t, err)
	require.Empty(t, rest)
	return sig
}

// jkurwa's published test data holds real certificates of the Ukrainian
// Central Certification Authority (explicit m = 431 parameters, self-signed)
// and of the Ministry of Justice CA it issued (explicit m = 257): their
// signatures check the whole chain of conventions on keys made elsewhere.
func TestRealUkrainianCACertificatesVerify(t *testing.T) {
	data := filepath.Join(dstutest.Jkurwa(t).Dir(), "node_modules", "jkurwa", "test", "data")
	load := func(name string) (*x509.Certificate, *dstu.PublicKey) {
		der, err := os.ReadFile(filepath.Join(data, name))
		require.NoError(t, err)
		cert, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		pub, err := dstu.ParsePKIXPublicKey(cert.RawSubjectPublicKeyInfo)
		require.NoError(t, err, name)
		return cert, pub
	}
	root, rootKey := load("CZOROOT.cer")
	ca, caKey := load("CA-Justice.cer")
	assert.Same(t, dstu.Curve431, rootKey.Curve)
	assert.Same(t, dstu.Curve257, caKey.Curve)

	d := dstu.Sum34311(root.RawTBSCertificate)
	require.NoError(t, rootKey.Verify(d[:], certSignature(t, root)), "root self-signature")
	d = dstu.Sum34311(ca.RawTBSCertificate)
	require.NoError(t, rootKey.Verify(d[:], certSignature(t, ca)), "CA certificate signed by the root")
	assert.ErrorIs(t, caKey.Verify(d[:], certSignature(t, ca)), dstu.ErrSignature, "not by the CA's own key")

	// Re-encoding the parsed key gives the certificate's compressed key.
	spki, err := dstu.MarshalPKIXPublicKey(caKey)
	require.NoError(t, err)
	again, err := dstu.ParsePKIXPublicKey(spki)
	require.NoError(t, err)
	assert.True(t, again.Equal(caKey))
}

// explicitCurve describes c to jkurwa by its parameters, for the curves
// jkurwa does not name.
func explicitCurve(c *dstu.Curve) map[string]any {
	return map[string]any{"m": c.M, "ks": c.Poly, "a": fmt.Sprint(c.A), "b": c.B.Text(16),
		"gx": c.Gx.Text(16), "gy": c.Gy.Text(16), "n": c.N.Text(16), "h": c.H}
}

// Every curve, given to jkurwa by its parameters: it derives the same
// public key from our scalar, verifies our signatures and we verify its.
// m = 191 is left out: jkurwa does not finish on that curve (its own
// arithmetic loops), so it cannot serve as a check there.
func TestJkurwaEveryCurve(t *testing.T) {
	jk := dstutest.Jkurwa(t)
	var reqs []dstutest.Req
	var keys []*dstu.PrivateKey
	var digests [][]byte
	for _, c := range dstu.Curves() {
		if c == dstu.Curve191 {
			continue
		}
		k, err := dstu.GenerateKey(c, nil)
		require.NoError(t, err)
		digest := randomBytes(32)
		sig, err := k.Sign(nil, digest, nil)
		require.NoError(t, err)
		keys, digests = append(keys, k), append(digests, digest)
		spec := explicitCurve(c)
		reqs = append(reqs,
			dstutest.Req{"op": "sign", "curve": spec, "d": k.D.Text(16), "digest": hex.EncodeToString(digest)},
			dstutest.Req{"op": "verify", "curve": spec, "pub": certKey(t, &k.PublicKey), "digest": hex.EncodeToString(digest), "sig": hex.EncodeToString(sig)})
	}
	res := jk.Run(t, reqs...)
	for i, k := range keys {
		name := k.Curve.Name
		signed, verified := res[2*i], res[2*i+1]
		assert.Equal(t, certKey(t, &k.PublicKey), signed.Str(t, "pub"), "%s: public key of the same scalar", name)
		assert.True(t, verified.Bool(t, "ok"), "%s: jkurwa verifies ours", name)
		assert.NoError(t, k.PublicKey.Verify(digests[i], signed.Bytes(t, "sig")), "%s: we verify jkurwa's", name)
	}
}
