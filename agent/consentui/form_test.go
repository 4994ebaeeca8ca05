package consentui

import (
	"bytes"
	"net/url"
	"testing"
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
			if err == nil {
				t.Errorf("parseForm(%q) succeeded", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseForm(%q): %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("parseForm(%q) = %q", tc.in, got)
		}
		for k, v := range tc.want {
			if string(got[k]) != v {
				t.Errorf("parseForm(%q)[%q] = %q; want %q", tc.in, k, got[k], v)
			}
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
			if len(ref[k]) == 0 || !bytes.Equal(v, []byte(ref[k][0])) {
				t.Fatalf("parseForm(%q)[%q] = %q; net/url says %q", body, k, v, ref[k])
			}
		}
	})
}
