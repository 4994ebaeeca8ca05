package dstutest

import (
	"crypto/rand"
	"encoding/asn1"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/dstu"
	"github.com/signet-agent/signet/sdk/gost"
)

// Key6 writes key as an IIT Key-6.dat under password: the PrivateKeyInfo
// padded to whole blocks, encrypted with GOST 28147-89 (basic mode, DKE
// S-box) under dstu.Key6Key(password). The 4-byte MAC is random: readers
// (IIT's format is not published) do not check it.
func Key6(t testing.TB, key *dstu.PrivateKey, password string) []byte {
	t.Helper()
	plain, err := dstu.MarshalPrivateKey(key)
	require.NoError(t, err)
	padLen := (8 - len(plain)%8) % 8
	buf := append(plain, make([]byte, padLen)...)
	c, err := gost.NewCipher(dstu.Key6Key([]byte(password)), dstu.SBoxDKE)
	require.NoError(t, err)
	for i := 0; i < len(buf); i += 8 {
		c.Encrypt(buf[i:], buf[i:])
	}
	mac := make([]byte, 4)
	_, _ = rand.Read(mac)
	type params struct {
		MAC []byte
		Pad []byte `asn1:"optional"`
	}
	var v struct {
		Header struct {
			Type   asn1.ObjectIdentifier
			Params params
		}
		Data []byte
	}
	v.Header.Type = dstu.OIDIITStore
	v.Header.Params = params{MAC: mac, Pad: buf[len(plain):]}
	if padLen == 0 {
		v.Header.Params.Pad = nil
	}
	v.Data = buf[:len(plain)]
	der, err := asn1.Marshal(v)
	require.NoError(t, err)
	return der
}
