package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseSubject(t *testing.T) {
	cases := []struct{ in, want string }{
		{"CN=Ism Familiya,O=Kompaniya,C=UZ", "CN=Ism Familiya,O=Kompaniya,C=UZ"},
		{" cn = a , o = b\\, c ", "CN=a,O=b\\, c"},
		{"CN=x,1.2.860.3.16.1.2=32610793225581", "CN=x,1.2.860.3.16.1.2=#130e3332363130373933323235353831"},
		{"E=a@b.uz,CN=y", "1.2.840.113549.1.9.1=#16066140622e757a,CN=y"},
	}
	for _, c := range cases {
		n, err := parseSubject(c.in)
		if !assert.NoError(t, err, "%q", c.in) {
			continue
		}
		// ExtraNames are not reflected by String until marshalled; use the RDN sequence.
		assert.Equal(t, c.want, n.ToRDNSequence().String(), "%q", c.in)
	}
	for _, bad := range []string{"", "CN", "CN=", "XX=1", "=v"} {
		_, err := parseSubject(bad)
		assert.Error(t, err, "%q accepted", bad)
	}
}
