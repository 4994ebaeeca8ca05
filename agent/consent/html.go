package consent

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"

	"github.com/signet-agent/signet/hsm"
)

// MaxSummaryHTML bounds an HTML summary (Cipher's metaData) as received
// from a plugin; a longer one is refused, not truncated (a cut could change
// what the person reads).
const MaxSummaryHTML = 64 << 10

// htmlPolicy keeps text formatting, lists and tables; every attribute,
// link, image, style, script, form and frame is removed (the elements that
// carry content — script, style — with their content).
var htmlPolicy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements(
		"b", "strong", "i", "em", "u", "s", "small", "mark", "sub", "sup", "code", "pre", "kbd", "samp",
		"p", "br", "hr", "div", "span", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6",
		"ul", "ol", "li", "dl", "dt", "dd",
		"table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
	)
	return p
})

// SanitizeHTML returns the safe subset of an HTML summary: text formatting
// (b, i, em, strong, code, headings, paragraphs…), lists and tables, with
// no attributes at all; everything else is dropped (scripts and styles with
// their content, other elements keeping their text). Input longer than
// MaxSummaryHTML is refused with an error matching hsm.ErrInvalidRequest.
func SanitizeHTML(s string) (string, error) {
	if len(s) > MaxSummaryHTML {
		return "", fmt.Errorf("HTML summary of %d bytes (at most %d): %w", len(s), MaxSummaryHTML, hsm.ErrInvalidRequest)
	}
	if s == "" {
		return "", nil
	}
	return htmlPolicy().Sanitize(s), nil
}

var textPolicy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.StrictPolicy()
	p.AddSpaceWhenStrippingTag(true)
	return p
})

// HTMLText returns the text of an HTML summary, every element removed
// (scripts and styles with their content), for places that show plain
// text: the terminal prompt, the journal. Whitespace runs collapse to one
// space. Input longer than MaxSummaryHTML gives "".
func HTMLText(s string) string {
	if len(s) > MaxSummaryHTML || s == "" {
		return ""
	}
	return strings.Join(strings.Fields(html.UnescapeString(textPolicy().Sanitize(s))), " ")
}

// SafeSummaryHTML returns req.SummaryHTML, sanitised again, as template.HTML
// for a dialog. Sanitising is idempotent, so a Request that came through
// the host loses nothing; one built elsewhere is made safe all the same.
func (req Request) SafeSummaryHTML() template.HTML {
	s, err := SanitizeHTML(req.SummaryHTML)
	if err != nil {
		return ""
	}
	return template.HTML(s) //nolint:gosec // sanitised by htmlPolicy
}
