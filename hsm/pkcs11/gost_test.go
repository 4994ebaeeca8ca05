package pkcs11

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/gost"
	"github.com/signet-agent/signet/sdk/gost/gosttest"
)

// SoftHSM has no GOST, so these tests run the backend on the real SoftHSM
// module through gostTokenAPI, which adds GOST objects to one token the
// way a Rutoken or JaCarta files them (CKK_GOSTR3410 /
// CKK_GOSTR3410_512, CKA_GOSTR3410_PARAMS, CKA_VALUE x‖y little-endian,
// certificates under the same CKA_ID) and answers CKM_GOSTR3410 /
// CKM_GOSTR3410_512 by signing with sdk/gost. Everything else reaches
// SoftHSM.

const gostHandleBase = 0x7F000000

type fakeGOSTObject struct {
	attrs map[uint][]byte
	key   *gost.PrivateKey // private key objects
}

type gostTokenAPI struct {
	ckAPI
	slot  uint
	mechs []uint // mechanisms the token adds to its list

	mu      sync.Mutex
	objects []*fakeGOSTObject
	slotOf  map[p11.SessionHandle]uint
	pending map[p11.SessionHandle][]p11.ObjectHandle
	active  map[p11.SessionHandle]signOp
	used    []uint // mechanisms C_SignInit was called with, on fake keys
}

type signOp struct {
	mech uint
	obj  *fakeGOSTObject
}

func newGOSTTokenAPI(api ckAPI, slot uint) *gostTokenAPI {
	return &gostTokenAPI{ckAPI: api, slot: slot, mechs: []uint{p11.CKM_GOSTR3410, ckmGOSTR3410_512, ckmGOSTR3410WithGOSTR3411_256, ckmGOSTR3410WithGOSTR3411_512},
		slotOf: map[p11.SessionHandle]uint{}, pending: map[p11.SessionHandle][]p11.ObjectHandle{}, active: map[p11.SessionHandle]signOp{}}
}

func attrBytes(typ uint, v any) []byte { return p11.NewAttribute(typ, v).Value }

func derOID(t testing.TB, s string) []byte {
	var oid asn1.ObjectIdentifier
	for _, part := range bytes.Split([]byte(s), []byte(".")) {
		n := 0
		for _, c := range part {
			n = 10*n + int(c-'0')
		}
		oid = append(oid, n)
	}
	der, err := asn1.Marshal(oid)
	require.NoError(t, err)
	return der
}

// addKey files key (and cert, when given) under id and label. hashParams
// is CKA_GOSTR3411_PARAMS of the public key ("" leaves it out).
func (f *gostTokenAPI) addKey(t testing.TB, key *gost.PrivateKey, id []byte, label string, cert *x509.Certificate, hashParams string) {
	keyType := uint(p11.CKK_GOSTR3410)
	if key.Curve.Size() == 64 {
		keyType = ckkGOSTR3410_512
	}
	common := func(class uint) map[uint][]byte {
		return map[uint][]byte{
			p11.CKA_CLASS: attrBytes(p11.CKA_CLASS, class), p11.CKA_ID: id, p11.CKA_LABEL: []byte(label),
			p11.CKA_KEY_TYPE: attrBytes(p11.CKA_KEY_TYPE, keyType), p11.CKA_GOSTR3410_PARAMS: derOID(t, key.Curve.OID),
		}
	}
	priv := common(p11.CKO_PRIVATE_KEY)
	priv[p11.CKA_SIGN] = attrBytes(p11.CKA_SIGN, true)
	priv[p11.CKA_DECRYPT] = attrBytes(p11.CKA_DECRYPT, false)
	pub := common(p11.CKO_PUBLIC_KEY)
	pub[p11.CKA_VALUE] = key.PublicKey.Bytes()
	if hashParams != "" {
		pub[p11.CKA_GOSTR3411_PARAMS] = derOID(t, hashParams)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects = append(f.objects, &fakeGOSTObject{attrs: priv, key: key}, &fakeGOSTObject{attrs: pub})
	if cert != nil {
		f.objects = append(f.objects, &fakeGOSTObject{attrs: map[uint][]byte{
			p11.CKA_CLASS: attrBytes(p11.CKA_CLASS, p11.CKO_CERTIFICATE), p11.CKA_ID: id, p11.CKA_LABEL: []byte(label),
			p11.CKA_CERTIFICATE_TYPE: attrBytes(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509), p11.CKA_VALUE: cert.Raw,
		}})
	}
}

func (f *gostTokenAPI) fake(o p11.ObjectHandle) *fakeGOSTObject {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := int(o) - gostHandleBase
	if i < 0 || i >= len(f.objects) {
		return nil
	}
	return f.objects[i]
}

func (f *gostTokenAPI) GetMechanismList(slot uint) ([]*p11.Mechanism, error) {
	ms, err := f.ckAPI.GetMechanismList(slot)
	if err == nil && slot == f.slot {
		for _, m := range f.mechs {
			ms = append(ms, p11.NewMechanism(m, nil))
		}
	}
	return ms, err
}

func (f *gostTokenAPI) OpenSession(slot uint, flags uint) (p11.SessionHandle, error) {
	h, err := f.ckAPI.OpenSession(slot, flags)
	if err == nil {
		f.mu.Lock()
		f.slotOf[h] = slot
		f.mu.Unlock()
	}
	return h, err
}

func (f *gostTokenAPI) FindObjectsInit(h p11.SessionHandle, tmpl []*p11.Attribute) error {
	f.mu.Lock()
	if f.slotOf[h] == f.slot {
		var match []p11.ObjectHandle
	next:
		for i, o := range f.objects {
			for _, a := range tmpl {
				if !bytes.Equal(o.attrs[a.Type], a.Value) {
					continue next
				}
			}
			match = append(match, p11.ObjectHandle(gostHandleBase+i))
		}
		f.pending[h] = match
	}
	f.mu.Unlock()
	return f.ckAPI.FindObjectsInit(h, tmpl)
}

func (f *gostTokenAPI) FindObjects(h p11.SessionHandle, max int) ([]p11.ObjectHandle, bool, error) {
	hs, more, err := f.ckAPI.FindObjects(h, max)
	if err != nil || len(hs) > 0 {
		return hs, more, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	hs, f.pending[h] = f.pending[h], nil
	return hs, false, nil
}

func (f *gostTokenAPI) GetAttributeValue(h p11.SessionHandle, o p11.ObjectHandle, tmpl []*p11.Attribute) ([]*p11.Attribute, error) {
	obj := f.fake(o)
	if obj == nil {
		return f.ckAPI.GetAttributeValue(h, o, tmpl)
	}
	out := make([]*p11.Attribute, len(tmpl))
	for i, a := range tmpl {
		v, ok := obj.attrs[a.Type]
		if !ok {
			return nil, p11.Error(p11.CKR_ATTRIBUTE_TYPE_INVALID)
		}
		out[i] = &p11.Attribute{Type: a.Type, Value: bytes.Clone(v)}
	}
	return out, nil
}

func (f *gostTokenAPI) SignInit(h p11.SessionHandle, m []*p11.Mechanism, o p11.ObjectHandle) error {
	obj := f.fake(o)
	if obj == nil {
		return f.ckAPI.SignInit(h, m, o)
	}
	if obj.key == nil || len(m) != 1 {
		return p11.Error(p11.CKR_KEY_HANDLE_INVALID)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active[h] = signOp{mech: m[0].Mechanism, obj: obj}
	f.used = append(f.used, m[0].Mechanism)
	return nil
}

// Sign answers a fake key's signature as a token does: CKM_GOSTR3410 over
// a 32-byte digest on a 256-bit key, CKM_GOSTR3410_512 over 64 bytes on
// a 512-bit one; s‖r out.
func (f *gostTokenAPI) Sign(h p11.SessionHandle, data []byte) ([]byte, error) {
	f.mu.Lock()
	op, ok := f.active[h]
	delete(f.active, h)
	f.mu.Unlock()
	if !ok {
		return f.ckAPI.Sign(h, data)
	}
	want := uint(p11.CKM_GOSTR3410)
	if op.obj.key.Curve.Size() == 64 {
		want = ckmGOSTR3410_512
	}
	if op.mech != want {
		return nil, p11.Error(p11.CKR_MECHANISM_INVALID)
	}
	if len(data) != op.obj.key.Curve.Size() {
		return nil, p11.Error(p11.CKR_DATA_LEN_RANGE)
	}
	return gost.Sign(rand.Reader, op.obj.key, data)
}

func (f *gostTokenAPI) mechanismsUsed() []uint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint(nil), f.used...)
}

// gostToken opens a backend whose "gen" token also holds: a 2012-256 key
// with its certificate (TC26 A), an O'zDSt key whose token object says
// nothing of O'zDSt but whose certificate does, and a 2012-512 key
// (paramSet C) without a certificate.
type gostFixture struct {
	b               *Backend
	api             *gostTokenAPI
	k256, kOz, k512 *gost.PrivateKey
	cert256, certOz *x509.Certificate
}

func openGOSTToken(t *testing.T, mechs ...uint) *gostFixture {
	t.Helper()
	setup(t)
	probe, _ := openTest(t, Config{}, false)
	slot := slotOf(t, probe, "gen")
	fx := &gostFixture{}
	var err error
	fx.k256, err = gost.GenerateKeyOf(gost.KeyGOST2012_256, gost.CurveTC26_256A, rand.Reader)
	require.NoError(t, err)
	fx.cert256, err = gosttest.Certificate(gosttest.Template{CommonName: "Token GOST 256"}, &fx.k256.PublicKey, fx.k256, nil)
	require.NoError(t, err)
	fx.kOz, err = gost.GenerateKeyOf(gost.KeyOzDSt1092, gost.CurveCryptoProA, rand.Reader)
	require.NoError(t, err)
	fx.certOz, err = gosttest.Certificate(gosttest.Template{CommonName: "Token O'zDSt"}, &fx.kOz.PublicKey, fx.kOz, nil)
	require.NoError(t, err)
	fx.k512, err = gost.GenerateKeyOf(gost.KeyGOST2012_512, gost.CurveTC26_512C, rand.Reader)
	require.NoError(t, err)

	b, err := open(Config{Module: probe.Module(), PINPrompt: goodPrompt().fn}, func(api ckAPI) ckAPI {
		fx.api = newGOSTTokenAPI(api, slot)
		if mechs != nil {
			fx.api.mechs = mechs
		}
		return fx.api
	})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	fx.b = b
	fx.api.addKey(t, fx.k256, []byte{0x61}, "gost-256", fx.cert256, "1.2.643.7.1.1.2.2")
	fx.api.addKey(t, fx.kOz, []byte{0x62}, "ozdst", fx.certOz, "")
	fx.api.addKey(t, fx.k512, []byte{0x63}, "gost-512", nil, "")
	return fx
}

// TestGOSTTokenKeys: the listing maps GOST token objects to keys with
// their national algorithm, size, public key and certificate; the
// certificate decides the algorithm of a 256-bit key.
func TestGOSTTokenKeys(t *testing.T) {
	fx := openGOSTToken(t)
	keys := keysOf(t, fx.b, "gen")
	for label, want := range map[string]struct {
		alg  hsm.KeyAlgorithm
		bits int
		key  *gost.PrivateKey
		cert *x509.Certificate
	}{
		"gost-256": {hsm.GOST2012_256, 256, fx.k256, fx.cert256},
		"ozdst":    {hsm.OzDSt1092, 256, fx.kOz, fx.certOz},
		"gost-512": {hsm.GOST2012_512, 512, fx.k512, nil},
	} {
		k, ok := keys[label]
		require.True(t, ok, "key %q not listed (keys: %v)", label, keys)
		assert.Equal(t, want.alg, k.Algorithm, label)
		assert.Equal(t, want.bits, k.Bits, label)
		assert.True(t, k.CanSign, label)
		pub, ok := k.PublicKey.(*gost.PublicKey)
		require.True(t, ok, "%s: public key %T", label, k.PublicKey)
		assert.True(t, pub.Equal(&want.key.PublicKey), label)
		if want.cert != nil {
			require.NotNil(t, k.Certificate, label)
			assert.Equal(t, want.cert.Raw, k.Certificate.Raw, label)
		}
	}
}

// TestGOSTTokenSign: each key signs its algorithm's digest through the
// digest mechanism of its size (CKM_GOSTR3410, CKM_GOSTR3410_512) and the
// signature verifies; a CMS made through the key store verifies.
func TestGOSTTokenSign(t *testing.T) {
	fx := openGOSTToken(t)
	ctx := context.Background()
	keys := keysOf(t, fx.b, "gen")
	msg := []byte("signed on a GOST token")
	for _, label := range []string{"gost-256", "ozdst", "gost-512"} {
		k := keys[label]
		pub := k.PublicKey.(*gost.PublicKey)
		h := pub.Type.NewHash()
		h.Write(msg)
		digest := h.Sum(nil)
		sig, err := hsm.Signer(ctx, fx.b, k.URI, k.PublicKey).Sign(rand.Reader, digest, crypto.Hash(0))
		require.NoError(t, err, label)
		require.NoError(t, gost.Verify(pub, digest, sig), label)
	}
	assert.Equal(t, []uint{p11.CKM_GOSTR3410, p11.CKM_GOSTR3410, ckmGOSTR3410_512}, fx.api.mechanismsUsed())

	for _, label := range []string{"gost-256", "ozdst"} {
		k := keys[label]
		sig, err := cms.Sign(msg, hsm.Signer(ctx, fx.b, k.URI, k.PublicKey), k.Certificate, nil)
		require.NoError(t, err, label)
		rep, err := cms.Verify(sig, nil, nil)
		require.NoError(t, err, label)
		assert.True(t, rep.Signers[0].SignatureOK, label)
	}
}

// TestGOSTTokenSignRefusals: a digest of the wrong size, a standard hash
// in the options and a token without the GOST digest mechanism are
// refused before the token signs.
func TestGOSTTokenSignRefusals(t *testing.T) {
	fx := openGOSTToken(t)
	ctx := context.Background()
	keys := keysOf(t, fx.b, "gen")
	d32 := sha256.Sum256([]byte("x"))
	_, err := fx.b.Sign(ctx, keys["gost-512"].URI, d32[:], crypto.Hash(0))
	assert.ErrorIs(t, err, hsm.ErrInvalidRequest, "32-byte digest on a 512-bit key")
	assert.ErrorContains(t, err, "needs 64")
	_, err = fx.b.Sign(ctx, keys["gost-256"].URI, d32[:], crypto.SHA256)
	assert.ErrorIs(t, err, hsm.ErrInvalidRequest, "SHA-256 options")
	assert.Empty(t, fx.api.mechanismsUsed(), "the token was asked to sign")

	fx2 := openGOSTToken(t, ckmGOSTR3410WithGOSTR3411_256) // hashing on the token only
	keys2 := keysOf(t, fx2.b, "gen")
	_, err = fx2.b.Sign(ctx, keys2["gost-256"].URI, d32[:], crypto.Hash(0))
	assert.ErrorIs(t, err, hsm.ErrUnsupported, "token without CKM_GOSTR3410")
}
