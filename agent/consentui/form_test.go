package consentui

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseForm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		bad  bool
	}{
		{in: "", want: map[string]string{}},
		{in: "a=1&b=x+y&c=%26%3D%2B%25&d", want: map[string]string{"a": "1", "b": "x y", "c": "&=+%", "d": ""}},
		{in: "pin=%C3%BC&pin=second", want: map[string]string{"pin": "ü"}},
		{in: "&&a=1&", want: map[string]string{"a": "1"}},
		{in: "a=%4", bad: true},
		{in: "a=%zz", bad: true},
		{in: "a=%", bad: true},
		{in: "a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9", bad: true},
	} {
		got, err := parseForm([]byte(tc.in))
		if tc.bad {
			assert.Error(t, err, "parseForm(%q) succeeded", tc.in)
			continue
		}
		if !assert.NoError(t, err, "parseForm(%q)", tc.in) {
			continue
		}
		assert.Len(t, got, len(tc.want), "parseForm(%q) = %q", tc.in, got)
		for k, v := range tc.want {
			assert.Equal(t, v, string(got[k]), "parseForm(%q)[%q]", tc.in, k)
		}
	}
}

// FuzzParseForm: parseForm never panics, and agrees with net/url on bodies
// both accept.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"", "csrf=ab&action=submit&pin=1234", "a=%41+b", "a=%", "=&=&", "k=%C3%BC%ZZ"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := parseForm(body)
		if err != nil {
			return
		}
		ref, err := url.ParseQuery(string(body))
		if err != nil {
			return // net/url is stricter about ';' and some escapes
		}
		for k, v := range got {
			require.NotEmpty(t, ref[k], "parseForm(%q)[%q] = %q; net/url has no such key", body, k, v)
			require.Equal(t, ref[k][0], string(v), "parseForm(%q)[%q]; net/url's value first", body, k)
		}
	})
}
