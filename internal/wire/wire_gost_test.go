package wire

import (
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/gost"
	"github.com/signet-agent/signet/sdk/gost/gosttest"
)

// TestGOSTKeyOverTheWire: a GOST or O'zDSt key (which crypto/x509 cannot
// marshal) crosses to a plugin with its public key, from the key itself or
// from its certificate.
func TestGOSTKeyOverTheWire(t *testing.T) {
	for _, tc := range []struct {
		typ   gost.KeyType
		curve *gost.Curve
	}{{gost.KeyGOST2012_256, gost.CurveTC26_256A}, {gost.KeyGOST2012_512, gost.CurveTC26_512A}, {gost.KeyOzDSt1092, gost.CurveCryptoProA}} {
		k, err := gost.GenerateKeyOf(tc.typ, tc.curve, rand.Reader)
		require.NoError(t, err)
		cert, err := gosttest.Certificate(gosttest.Template{CommonName: tc.typ.String()}, &k.PublicKey, k, nil)
		require.NoError(t, err)

		p, err := KeyToProto(hsm.KeyInfo{URI: "file:///k.pfx", PublicKey: &k.PublicKey, Algorithm: hsm.KeyAlgorithm(tc.typ.String())})
		require.NoError(t, err, tc.typ)
		back, err := KeyFromProto(p)
		require.NoError(t, err, tc.typ)
		assert.True(t, k.PublicKey.Equal(back.PublicKey), "%s: public key", tc.typ)

		p, err = KeyToProto(hsm.KeyInfo{URI: "file:///k.pfx", Certificate: cert})
		require.NoError(t, err)
		back, err = KeyFromProto(p)
		require.NoError(t, err)
		assert.True(t, k.PublicKey.Equal(back.PublicKey), "%s: public key from the certificate", tc.typ)
	}
}
