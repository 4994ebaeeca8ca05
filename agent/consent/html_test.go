package consent

import (
	"errors"
	"strings"
	"testing"

	"github.com/signet-agent/signet/hsm"
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
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("SanitizeHTML(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for _, bad := range []string{"<script", "onerror", "onclick", "javascript:", "<iframe", "style=", "href"} {
				if strings.Contains(strings.ToLower(got), bad) {
					t.Errorf("SanitizeHTML(%q) = %q keeps %q", tt.in, got, bad)
				}
			}
			again, _ := SanitizeHTML(got)
			if again != got {
				t.Errorf("not idempotent: %q then %q", got, again)
			}
		})
	}
}

func TestSanitizeHTMLTooLong(t *testing.T) {
	if _, err := SanitizeHTML(strings.Repeat("a", MaxSummaryHTML)); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	_, err := SanitizeHTML(strings.Repeat("a", MaxSummaryHTML+1))
	if !errors.Is(err, hsm.ErrInvalidRequest) {
		t.Fatalf("over the limit: %v, want ErrInvalidRequest", err)
	}
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
			if strings.Contains(low, bad) {
				t.Fatalf("SanitizeHTML(%q) = %q keeps %q", s, got, bad)
			}
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
		if got := HTMLText(in); got != want {
			t.Errorf("HTMLText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTerminalShowsHTMLSummaryAsText(t *testing.T) {
	r := Request{Kind: Sign, Plugin: "cipher", Origin: "https://portal.example",
		SummaryHTML: "<b>Invoice #42</b><script>alert(1)</script><ul><li>a.pdf</li></ul>"}
	out := DescribeQuestion(Question{Request: r})
	if !strings.Contains(out, "details:  Invoice #42 a.pdf") || strings.Contains(out, "<") || strings.Contains(out, "alert") {
		t.Fatalf("terminal question:\n%s", out)
	}
}
