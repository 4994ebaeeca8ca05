package consent

import (
	"strings"
	"testing"

	"github.com/signet-agent/signet/hsm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSanitizeHTML(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"bold kept", "<b>Invoice #42</b>: 3 files", "<b>Invoice #42</b>: 3 files"},
		{"list kept", "<ul><li>a.pdf</li><li>b.pdf</li></ul>", "<ul><li>a.pdf</li><li>b.pdf</li></ul>"},
		{"table kept", "<table><tr><th>File</th><td>1 KiB</td></tr></table>", "<table><tr><th>File</th><td>1 KiB</td></tr></table>"},
		{"script removed with content", "a<script>alert(1)</script>b", "ab"},
		{"onerror removed", `<img src=x onerror="alert(1)">x`, "x"},
		{"event attribute on kept element", `<b onclick="alert(1)">x</b>`, "<b>x</b>"},
		{"javascript link", `<a href="javascript:alert(1)">click</a>`, "click"},
		{"plain link", `<a href="https://evil.example/">click</a>`, "click"},
		{"style element", "<style>body{display:none}</style>x", "x"},
		{"style attribute", `<p style="position:fixed;top:0">x</p>`, "<p>x</p>"},
		{"iframe", `<iframe src="https://evil.example/"></iframe>x`, "x"},
		{"svg onload", `<svg onload="alert(1)"><circle/></svg>x`, "x"},
		{"form", `<form action="/x"><input name=pin><button>ok</button></form>`, "ok"},
		{"class and id", `<span class="ok" id="approve">x</span>`, "<span>x</span>"},
		{"entities stay escaped", "&lt;script&gt;", "&lt;script&gt;"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SanitizeHTML(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got, "SanitizeHTML(%q)", tt.in)
			for _, bad := range []string{"<script", "onerror", "onclick", "javascript:", "<iframe", "style=", "href"} {
				assert.NotContains(t, strings.ToLower(got), bad, "SanitizeHTML(%q)", tt.in)
			}
			again, _ := SanitizeHTML(got)
			assert.Equal(t, got, again, "not idempotent")
		})
	}
}

func TestSanitizeHTMLTooLong(t *testing.T) {
	_, err := SanitizeHTML(strings.Repeat("a", MaxSummaryHTML))
	require.NoError(t, err, "at the limit")
	_, err = SanitizeHTML(strings.Repeat("a", MaxSummaryHTML+1))
	require.ErrorIs(t, err, hsm.ErrInvalidRequest, "over the limit")
}

func FuzzSanitizeHTML(f *testing.F) {
	for _, s := range []string{"<b>x</b>", "<script>alert(1)</script>", `<img src=x onerror=alert(1)>`, "<table><tr><td>1</td></tr></table>", "<<a>>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := SanitizeHTML(s)
		if err != nil {
			return
		}
		low := strings.ToLower(got)
		for _, bad := range []string{"<script", "<iframe", "<img", "<a ", "<style"} {
			require.NotContains(t, low, bad, "SanitizeHTML(%q) = %q", s, got)
		}
	})
}

func TestHTMLText(t *testing.T) {
	for in, want := range map[string]string{
		"<b>Invoice #42</b>: 3 files":                              "Invoice #42 : 3 files",
		"<ul><li>a.pdf</li><li>b.pdf</li></ul>":                    "a.pdf b.pdf",
		"x<script>alert(1)</script><style>p{}</style>y":            "xy",
		"Tom &amp; Jerry &lt;b&gt;":                                "Tom & Jerry <b>",
		`<img src=x onerror=alert(1)><a href="javascript:1">l</a>`: "l",
		"": "",
	} {
		assert.Equal(t, want, HTMLText(in), "HTMLText(%q)", in)
	}
}

func TestTerminalShowsHTMLSummaryAsText(t *testing.T) {
	r := Request{Kind: Sign, Plugin: "cipher", Origin: "https://portal.example",
		SummaryHTML: "<b>Invoice #42</b><script>alert(1)</script><ul><li>a.pdf</li></ul>"}
	out := DescribeQuestion(Question{Request: r})
	require.Contains(t, out, "details:  Invoice #42 a.pdf")
	require.NotContains(t, out, "<")
	require.NotContains(t, out, "alert")
}
