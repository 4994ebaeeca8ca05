package gost

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math/big"
	"strings"
	"testing"
)

var allCurves = []*Curve{CurveCryptoProA, CurveCryptoProB, CurveCryptoProC, CurveRFC5832Test}

// TestGostCurveParameters proves the curve constants are consistent: p
// and q prime, the base point on the curve, q·P = infinity and (q−1)·P =
// −P. A mistyped digit fails one of these.
func TestGostCurveParameters(t *testing.T) {
	for _, c := range allCurves {
		t.Run(c.Name, func(t *testing.T) {
			if !c.P.ProbablyPrime(32) || !c.Q.ProbablyPrime(32) {
				t.Fatal("p or q not prime")
			}
			if !c.IsOnCurve(c.X, c.Y) {
				t.Fatal("base point not on the curve")
			}
			if _, _, ok := c.affine(c.scalarMult(c.X, c.Y, c.Q)); ok {
				t.Fatal("q·P is not infinity")
			}
			qm1 := new(big.Int).Sub(c.Q, big.NewInt(1))
			x, y, ok := c.affine(c.scalarMult(c.X, c.Y, qm1))
			negY := new(big.Int).Sub(c.P, c.Y)
			if !ok || x.Cmp(c.X) != 0 || y.Cmp(negY) != 0 {
				t.Fatal("(q−1)·P is not −P")
			}
			// The RFC 4357 curves use a = −3.
			if c.OID != "" && new(big.Int).Sub(c.P, c.A).Cmp(big.NewInt(3)) != 0 {
				t.Fatal("a is not −3")
			}
		})
	}
}

// TestGostRFC5832Example is the signature example of RFC 5832 §7.1–7.2
// (values from the RFC, in hex).
func TestGostRFC5832Example(t *testing.T) {
	c := CurveRFC5832Test
	d := mustHex("7A929ADE789BB9BE10ED359DD39A72C11B60961F49397EEE1D19CE9891EC3B28")
	e := mustHex("2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5")
	k := mustHex("77105C9B20BCD3122823C8CF6FCC7B956DE33814E95B7FE64FED924594DCEAB3")
	wantQx := mustHex("7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B")
	wantQy := mustHex("26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA")
	wantR := mustHex("41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493")
	wantS := mustHex("01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40")

	priv, err := NewPrivateKey(c, d)
	if err != nil {
		t.Fatal(err)
	}
	if priv.X.Cmp(wantQx) != 0 || priv.Y.Cmp(wantQy) != 0 {
		t.Fatalf("Q = (%X, %X)", priv.X, priv.Y)
	}
	r, s, ok := signWithK(priv, e, k)
	if !ok || r.Cmp(wantR) != 0 || s.Cmp(wantS) != 0 {
		t.Fatalf("r = %X, s = %X", r, s)
	}
	if err := verify(&priv.PublicKey, e, r, s); err != nil {
		t.Fatalf("example signature: %v", err)
	}
	// The same through the byte interface: e is the digest read
	// little-endian (e < q here, so no reduction).
	digest := make([]byte, 32)
	putLE(digest, e)
	sig := encodeSig(r, s)
	if !bytes.Equal(sig[:32], s.FillBytes(make([]byte, 32))) {
		t.Fatal("signature does not start with s")
	}
	if err := Verify(&priv.PublicKey, digest, sig); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := verify(&priv.PublicKey, new(big.Int).Add(e, big.NewInt(1)), r, s); !errors.Is(err, ErrSignature) {
		t.Fatalf("e+1 verified: %v", err)
	}
}

func TestGostSignVerifyAllCurves(t *testing.T) {
	for _, c := range allCurves {
		t.Run(c.Name, func(t *testing.T) {
			priv, err := GenerateKey(c, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			digest := Sum94CryptoPro([]byte("Signet " + c.Name))
			sig, err := Sign(rand.Reader, priv, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParsePublicKey(c, priv.PublicKey.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(pub, digest[:], sig); err != nil {
				t.Fatalf("own signature: %v", err)
			}
			for bit := 0; bit < 8*len(sig); bit += 37 {
				bad := bytes.Clone(sig)
				bad[bit/8] ^= 1 << (bit % 8)
				if err := Verify(pub, digest[:], bad); !errors.Is(err, ErrSignature) {
					t.Fatalf("bit %d flipped: %v", bit, err)
				}
			}
			other := Sum94CryptoPro([]byte("something else"))
			if err := Verify(pub, other[:], sig); !errors.Is(err, ErrSignature) {
				t.Fatalf("other digest: %v", err)
			}
			priv2, _ := GenerateKey(c, rand.Reader)
			if err := Verify(&priv2.PublicKey, digest[:], sig); !errors.Is(err, ErrSignature) {
				t.Fatalf("other key: %v", err)
			}
		})
	}
}

// TestGostZeroDigest: e = 0 mod q becomes 1, so the all-zero digest and
// the digest of q (little-endian) are signed as e = 1.
func TestGostZeroDigest(t *testing.T) {
	c := CurveCryptoProA
	priv, _ := GenerateKey(c, rand.Reader)
	zero := make([]byte, 32)
	one := make([]byte, 32)
	one[0] = 1
	sig, err := Sign(rand.Reader, priv, zero)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(&priv.PublicKey, one, sig); err != nil {
		t.Errorf("e=0 signature does not verify as e=1: %v", err)
	}
	q := make([]byte, 32)
	putLE(q, c.Q)
	if err := Verify(&priv.PublicKey, q, sig); err != nil {
		t.Errorf("digest = q does not verify as e=1: %v", err)
	}
}

func TestGostRejections(t *testing.T) {
	c := CurveCryptoProA
	priv, _ := GenerateKey(c, rand.Reader)
	pub := &priv.PublicKey
	digest := Sum94CryptoPro([]byte("x"))
	sig, _ := Sign(rand.Reader, priv, digest[:])
	q := c.Q.FillBytes(make([]byte, 32))
	zero := make([]byte, 32)

	for _, tc := range []struct {
		name         string
		digest, sig  []byte
		want         error
		wantInReason string
	}{
		{"short signature", digest[:], sig[:63], ErrSignature, "63 bytes, want 64"},
		{"long signature", digest[:], append(bytes.Clone(sig), 0), ErrSignature, "65 bytes"},
		{"empty signature", digest[:], nil, ErrSignature, "0 bytes"},
		{"s = 0", digest[:], append(bytes.Clone(zero), sig[32:]...), ErrSignature, "s is not in"},
		{"r = 0", digest[:], append(bytes.Clone(sig[:32]), zero...), ErrSignature, "r is not in"},
		{"s = q", digest[:], append(bytes.Clone(q), sig[32:]...), ErrSignature, "s is not in"},
		{"r = q", digest[:], append(bytes.Clone(sig[:32]), q...), ErrSignature, "r is not in"},
		{"short digest", digest[:31], sig, nil, "digest is 31 bytes"},
	} {
		err := Verify(pub, tc.digest, tc.sig)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.wantInReason) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}

	// Public keys.
	raw := pub.Bytes()
	if _, err := ParsePublicKey(c, raw[:63]); !errors.Is(err, ErrPublicKey) || !strings.Contains(err.Error(), "63 bytes") {
		t.Errorf("63-byte key: %v", err)
	}
	bad := bytes.Clone(raw)
	bad[40] ^= 1
	if _, err := ParsePublicKey(c, bad); !errors.Is(err, ErrPublicKey) || !strings.Contains(err.Error(), "not on") {
		t.Errorf("off-curve key: %v", err)
	}
	pBytes := make([]byte, 32)
	putLE(pBytes, c.P)
	if _, err := ParsePublicKey(c, append(pBytes, raw[32:]...)); !errors.Is(err, ErrPublicKey) {
		t.Errorf("x = p: %v", err)
	}
	if err := Verify(nil, digest[:], sig); !errors.Is(err, ErrPublicKey) {
		t.Errorf("nil key: %v", err)
	}
	// A key for another curve does not parse on this one.
	privB, _ := GenerateKey(CurveCryptoProB, rand.Reader)
	if _, err := ParsePublicKey(c, privB.PublicKey.Bytes()); !errors.Is(err, ErrPublicKey) {
		t.Errorf("curve B key on curve A: %v", err)
	}

	// Private keys and random sources.
	for _, d := range []*big.Int{nil, big.NewInt(0), big.NewInt(-1), c.Q} {
		if _, err := NewPrivateKey(c, d); !errors.Is(err, ErrPrivateKey) {
			t.Errorf("d = %v: %v", d, err)
		}
	}
	if _, err := Sign(bytes.NewReader(nil), priv, digest[:]); err == nil || !strings.Contains(err.Error(), "random") {
		t.Errorf("empty random source: %v", err)
	}
	if _, err := Sign(bytes.NewReader(make([]byte, 1<<16)), priv, digest[:]); err == nil {
		t.Error("all-zero random source gave a signature")
	}
	if _, err := Sign(rand.Reader, priv, digest[:16]); err == nil || !strings.Contains(err.Error(), "16 bytes") {
		t.Errorf("16-byte digest: %v", err)
	}
}
