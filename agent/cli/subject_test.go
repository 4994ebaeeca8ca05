package cli

import (
	"testing"
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
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		// ExtraNames are not reflected by String until marshalled; use the RDN sequence.
		got := n.ToRDNSequence().String()
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "CN", "CN=", "XX=1", "=v"} {
		if _, err := parseSubject(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
