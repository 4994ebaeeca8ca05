package eimzo

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// publishedAPIKeys are every (domain, key) pair the vendor or integrators
// published: public protocol data, used as test vectors. The first five
// are from the vendor's demo (qo0p/e-imzo-doc,
// example.uz/php/demo/e-imzo-init.js); salom.sqb.uz is a production key
// embedded in a public integration.
var publishedAPIKeys = []struct{ domain, key string }{
	{"null", "E0A205EC4E7B78BBB56AFF83A733A1BB9FD39D562E67978CC5E7D73B0951DB1954595A20672A63332535E13CC6EC1E1FC8857BB09E0855D7E76E411B6FA16E9D"},
	{"localhost", "96D0C1491615C82B9A54D9989779DF825B690748224C2B04F500F370D51827CE2644D8D4A82C18184D73AB8530BB8ED537269603F61DB0D03D2104ABF789970B"},
	{"127.0.0.1", "A7BCFA5D490B351BE0754130DF03A068F855DB4333D43921125B9CF2670EF6A40370C646B90401955E1F7BC9CDBF59CE0B2C5467D820BE189C845D0B79CFC96F"},
	{"test.e-imzo.uz", "DE783306B4717AFE4AE1B185E1D967C265AA397A35D8955C7D7E38A36F02798AA62FBABE2ABA15C888FE2F057474F35A5FC783D23005E4347A3E34D6C1DDBAE5"},
	{"test.e-imzo.local", "D56ABC7F43A23466D9ADB1A2335E7430FCE0F46B0EC99B578D554333245FC071357AE9E7E2F75F96B73AEEE7E0D61AE84E414F5CD795D8B6484E5645CAF958FC"},
	{"salom.sqb.uz", "850FF0E4A84282419377FDC21B0F81F8F89D45F6313AE806531472908CF201629C1DDA93CDC03339F2E530ADF9CDE851BD92ED0256C3D47BD6E1DAEC49D7A833"},
}

func TestAPIKeyPublishedPairsVerify(t *testing.T) {
	for _, p := range publishedAPIKeys {
		assert.True(t, verifyAPIKey(p.domain, p.key), "%s: published key does not verify", p.domain)
		// Hex case does not matter.
		assert.True(t, verifyAPIKey(p.domain, strings.ToLower(p.key)), "%s: lower-case key does not verify", p.domain)
	}
}

func TestAPIKeyForAnotherDomainFails(t *testing.T) {
	others := []string{"example.uz", "localhost.", "LOCALHOST", "", "e-imzo.uz"}
	for _, p := range publishedAPIKeys {
		for _, q := range publishedAPIKeys {
			if q.domain != p.domain {
				assert.False(t, verifyAPIKey(q.domain, p.key), "key of %s verifies for %s", p.domain, q.domain)
			}
		}
		for _, d := range others {
			assert.False(t, verifyAPIKey(d, p.key), "key of %s verifies for %q", p.domain, d)
		}
	}
}

func TestAPIKeyFlippedBitFails(t *testing.T) {
	p := publishedAPIKeys[1]
	raw := []byte(p.key)
	for i := range raw {
		bad := []byte(p.key)
		// Change one hex digit by one bit, staying a hex digit.
		switch c := bad[i]; {
		case c == '9':
			bad[i] = '8'
		case c == 'F':
			bad[i] = 'E'
		default:
			bad[i] = c ^ 1
			if !strings.ContainsRune("0123456789ABCDEF", rune(bad[i])) {
				bad[i] = c - 1
			}
		}
		assert.False(t, verifyAPIKey(p.domain, string(bad)), "digit %d changed (%c→%c) still verifies", i, raw[i], bad[i])
	}
}

func TestAPIKeyMalformedFails(t *testing.T) {
	key := publishedAPIKeys[1].key
	for name, k := range map[string]string{
		"empty":         "",
		"127 digits":    key[:127],
		"129 digits":    key + "0",
		"64 digits":     key[:64],
		"256 digits":    key + key,
		"non-hex digit": key[:100] + "G" + key[101:],
		"space":         " " + key[1:],
		"0x prefix":     "0x" + key[2:],
		"all zero":      strings.Repeat("0", 128),
		"all F":         strings.Repeat("F", 128),
	} {
		assert.False(t, verifyAPIKey("localhost", k), "%s: verifies", name)
	}
	assert.False(t, verifyAPIKey(strings.Repeat("a", maxAPIKeyDomain+1), key), "overlong domain verifies")
}

// FuzzAPIKey: arbitrary domains and keys never panic, and nothing but the
// published pairs verifies.
func FuzzAPIKey(f *testing.F) {
	for _, p := range publishedAPIKeys {
		f.Add(p.domain, p.key)
		f.Add(p.domain+"x", p.key)
	}
	f.Add("localhost", strings.Repeat("0", 128))
	f.Add("", "")
	f.Fuzz(func(t *testing.T, domain, key string) {
		ok := verifyAPIKey(domain, key)
		if !ok {
			return
		}
		for _, p := range publishedAPIKeys {
			if p.domain == domain && strings.EqualFold(p.key, key) {
				return
			}
		}
		require.FailNow(t, "unpublished pair verifies", "%q %q", domain, key)

	})
}
