package cryptoarm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/plugins/cryptoarm"
)

func TestParseLinkAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, link string
		policy     cryptoarm.LinkPolicy
		want       cryptoarm.Link
	}{
		{"vendor example", "cryptoarm://signAndEncrypt/https://example.com/json?id=2c48eb32-a0a8-405c-ade9-eed130605cba",
			cryptoarm.LinkPolicy{}, cryptoarm.Link{Command: "signAndEncrypt", Service: "https://example.com/json?id=2c48eb32-a0a8-405c-ade9-eed130605cba", ID: "2c48eb32-a0a8-405c-ade9-eed130605cba"}},
		{"command case-insensitive", "CRYPTOARM://SIGNANDENCRYPT/https://example.com/json?id=1",
			cryptoarm.LinkPolicy{}, cryptoarm.Link{Command: "signAndEncrypt", Service: "https://example.com/json?id=1", ID: "1"}},
		{"doc form /?id=", "cryptoarm://certificates/https://example.com/json/?id=7",
			cryptoarm.LinkPolicy{}, cryptoarm.Link{Command: "certificates", Service: "https://example.com/json/?id=7", ID: "7"}},
		{"service query kept verbatim", "cryptoarm://signAndEncrypt/https://portal.example:8443/bitrix/ajax?command=JSON&id=u-1&id=u-2",
			cryptoarm.LinkPolicy{}, cryptoarm.Link{Command: "signAndEncrypt", Service: "https://portal.example:8443/bitrix/ajax?command=JSON&id=u-1&id=u-2", ID: "u-1"}},
		{"legacy sign", "cryptoarm://sign/https://portal.example/ajax?command=JSON&accessToken=t-1",
			cryptoarm.LinkPolicy{}, cryptoarm.Link{Command: "sign", Service: "https://portal.example/ajax?command=JSON&accessToken=t-1", Legacy: true, AccessToken: "t-1"}},
		{"legacy verify", "cryptoarm://verify/https://portal.example/v?accessToken=t-2",
			cryptoarm.LinkPolicy{}, cryptoarm.Link{Command: "verify", Service: "https://portal.example/v?accessToken=t-2", Legacy: true, AccessToken: "t-2"}},
		{"loopback http when configured", "cryptoarm://diagnostics/http://127.0.0.1:4040/json?id=d",
			cryptoarm.LinkPolicy{LoopbackHTTP: true}, cryptoarm.Link{Command: "diagnostics", Service: "http://127.0.0.1:4040/json?id=d", ID: "d"}},
		{"local file URL", "cryptoarm://signAndEncrypt/file:///home/u/Documents/Sign%20Test.json",
			cryptoarm.LinkPolicy{}, cryptoarm.Link{Command: "signAndEncrypt", LocalPath: "/home/u/Documents/Sign Test.json"}},
		{"local path", "cryptoarm://signAndEncrypt//tmp/job.json",
			cryptoarm.LinkPolicy{}, cryptoarm.Link{Command: "signAndEncrypt", LocalPath: "/tmp/job.json"}},
		{"inline JSON", `cryptoarm://signAndEncrypt/{"result":{}}`,
			cryptoarm.LinkPolicy{}, cryptoarm.Link{Command: "signAndEncrypt", InlineJSON: []byte(`{"result":{}}`)}},
		{"inline JSON percent-encoded", `cryptoarm://signAndEncrypt/%7B%22result%22%3A%7B%7D%7D`,
			cryptoarm.LinkPolicy{}, cryptoarm.Link{Command: "signAndEncrypt", InlineJSON: []byte(`{"result":{}}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cryptoarm.ParseLink(tc.link, tc.policy)
			require.NoError(t, err)
			got.ServiceURL = nil
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseLinkRefuses(t *testing.T) {
	for _, tc := range []struct{ name, link, says string }{
		{"other scheme", "https://example.com/json?id=1", "not a cryptoarm"},
		{"unknown command", "cryptoarm://format/https://example.com/json?id=1", "unknown command"},
		{"no service", "cryptoarm://signAndEncrypt", "no service URL"},
		{"empty service", "cryptoarm://signAndEncrypt/", "no service URL"},
		{"plain http", "cryptoarm://signAndEncrypt/http://example.com/json?id=1", "plain http"},
		{"loopback http not configured", "cryptoarm://signAndEncrypt/http://127.0.0.1/json?id=1", "plain http"},
		{"ftp", "cryptoarm://signAndEncrypt/ftp://example.com/json?id=1", "want https"},
		{"javascript", "cryptoarm://signAndEncrypt/javascript:alert(1)?id=1", "want"},
		{"no id", "cryptoarm://signAndEncrypt/https://example.com/json", "without ?id="},
		{"legacy without token", "cryptoarm://sign/https://example.com/json?id=1", "without accessToken"},
		{"user info", "cryptoarm://signAndEncrypt/https://user:pw@example.com/json?id=1", "user info"},
		{"relative local path", "cryptoarm://signAndEncrypt/file:job.json", "not absolute"},
		{"remote file URL", "cryptoarm://signAndEncrypt/file://server/share/job.json", "remote host"},
		{"too long", "cryptoarm://signAndEncrypt/https://example.com/?id=" + strings.Repeat("a", cryptoarm.MaxLink), "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cryptoarm.ParseLink(tc.link, cryptoarm.LinkPolicy{})
			require.Error(t, err)
			assert.True(t, errors.Is(err, cryptoarm.ErrBadLink))
			assert.Contains(t, err.Error(), tc.says)
		})
	}
	_, err := cryptoarm.ParseLink(`cryptoarm://signAndEncrypt/{"a":1}`, cryptoarm.LinkPolicy{NoLocalJobs: true})
	assert.ErrorIs(t, err, cryptoarm.ErrBadLink)
	_, err = cryptoarm.ParseLink(`cryptoarm://signAndEncrypt/http://192.0.2.1/?id=1`, cryptoarm.LinkPolicy{LoopbackHTTP: true})
	assert.ErrorContains(t, err, "plain http", "loopback http only on loopback")
}

func TestOriginOf(t *testing.T) {
	l, err := cryptoarm.ParseLink("cryptoarm://signAndEncrypt/HTTPS://Portal.Example:443/json?id=1", cryptoarm.LinkPolicy{})
	require.NoError(t, err)
	assert.Equal(t, "https://portal.example", l.Origin())
	l, err = cryptoarm.ParseLink("cryptoarm://signAndEncrypt/https://[::1]:8443/json?id=1", cryptoarm.LinkPolicy{})
	require.NoError(t, err)
	assert.Equal(t, "https://[::1]:8443", l.Origin())
}

// FuzzParseLink: any input either fails with ErrBadLink or gives a link
// whose service URL is https (or loopback http when allowed), carries an
// id (or a legacy access token), and is a suffix of the input.
func FuzzParseLink(f *testing.F) {
	for _, s := range []string{
		"cryptoarm://signAndEncrypt/https://example.com/json?id=1",
		"cryptoarm://sign/https://example.com/x?accessToken=1",
		"cryptoarm://certificates/https://example.com/json/?id=7",
		"cryptoarm://signAndEncrypt/file:///tmp/a.json",
		`cryptoarm://signAndEncrypt/{"x":1}`,
		"cryptoarm://diagnostics/http://127.0.0.1:1/?id=1",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, loopback bool) {
		l, err := cryptoarm.ParseLink(s, cryptoarm.LinkPolicy{LoopbackHTTP: loopback})
		if err != nil {
			if !errors.Is(err, cryptoarm.ErrBadLink) {
				t.Fatalf("error not ErrBadLink: %v", err)
			}
			return
		}
		switch {
		case l.Local():
			if l.LocalPath != "" && !strings.HasPrefix(l.LocalPath, "/") {
				t.Fatalf("relative local path %q", l.LocalPath)
			}
		default:
			if !strings.HasSuffix(s, l.Service) {
				t.Fatalf("service %q not verbatim from %q", l.Service, s)
			}
			switch l.ServiceURL.Scheme {
			case "https":
			case "http":
				if !loopback {
					t.Fatalf("http accepted: %q", s)
				}
			default:
				t.Fatalf("scheme %q accepted", l.ServiceURL.Scheme)
			}
			if l.ID == "" && l.AccessToken == "" {
				t.Fatalf("no id: %q", s)
			}
		}
	})
}
