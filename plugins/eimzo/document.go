package eimzo

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/signet-agent/signet/sdk"
)

// Documents as streams. A request's document arrives as base64 inside the
// JSON request; decoding it whole would hold a third copy beside the frame
// and the decoded argument. Where the decoded bytes are not needed whole —
// the summary the person sees (size, SHA-256, the start of a text) and a
// detached signature, whose digest sdk/cms computes as it reads — the
// base64 is decoded as a stream instead.

// newBase64Reader streams the bytes of a base64 argument: the standard
// alphabet, with or without '=' padding; ASCII whitespace (the line breaks
// of MIME base64, which Java encoders write) is ignored. URL-safe base64
// is not accepted: E-IMZO's clients never send it. An argument that would
// decode to more than max bytes is refused before anything is decoded.
func newBase64Reader(s string, max int) (io.Reader, error) {
	n := len(s)
	spaces := strings.ContainsAny(s, " \t\r\n")
	if spaces {
		for i := 0; i < len(s); i++ {
			if isBase64Space(s[i]) {
				n--
			}
		}
	}
	if base64.StdEncoding.DecodedLen(n) > max+3 {
		return nil, fmt.Errorf("more than %d bytes", max)
	}
	enc := base64.StdEncoding
	if n%4 != 0 {
		enc = base64.RawStdEncoding
	}
	var r io.Reader = strings.NewReader(s)
	if spaces {
		r = spaceFilter{r}
	}
	return &boundedReader{r: base64.NewDecoder(enc, r), left: int64(max)}, nil
}

// decodeBase64 decodes a base64 argument whole (see newBase64Reader).
func decodeBase64(s string, max int) ([]byte, error) {
	r, err := newBase64Reader(s, max)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(min(base64.StdEncoding.DecodedLen(len(s)), max))
	if _, err := b.ReadFrom(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func isBase64Space(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// spaceFilter drops ASCII whitespace from a stream.
type spaceFilter struct{ r io.Reader }

func (f spaceFilter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if !isBase64Space(c) {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

// boundedReader fails once its stream yields more than left bytes.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, fmt.Errorf("more than the allowed bytes")
	}
	return n, err
}

// documentHead is how much of a document's start the summary's quote is
// taken from (MaxSummaryText runes, with room for white space).
const documentHead = 4 << 10

// documentScan describes a document as it is written to it: size, SHA-256,
// whether it is text (UTF-8 without control characters other than tab
// and line breaks) and its first documentHead bytes.
type documentScan struct {
	size    int64
	sum     hash.Hash
	notText bool
	pending []byte // an incomplete UTF-8 sequence at the end of a write
	head    []byte
}

func newDocumentScan() *documentScan { return &documentScan{sum: sha256.New()} }

func (d *documentScan) Write(p []byte) (int, error) {
	d.size += int64(len(p))
	d.sum.Write(p)
	if n := min(len(p), documentHead-len(d.head)); n > 0 {
		d.head = append(d.head, p[:n]...)
	}
	d.scanText(p)
	return len(p), nil
}

// scanText checks p for text, continuing a sequence cut by the previous
// write.
func (d *documentScan) scanText(p []byte) {
	if d.notText {
		return
	}
	if len(d.pending) > 0 {
		need := min(len(p), utf8.UTFMax-len(d.pending))
		seq := append(d.pending, p[:need]...)
		if !utf8.FullRune(seq) {
			d.pending = seq
			return
		}
		r, size := utf8.DecodeRune(seq)
		if !textRune(r, size) {
			d.notText = true
			return
		}
		p = p[size-len(d.pending):]
		d.pending = d.pending[:0]
	}
	for len(p) > 0 {
		if !utf8.FullRune(p) {
			d.pending = append(d.pending[:0], p...)
			return
		}
		r, size := utf8.DecodeRune(p)
		if !textRune(r, size) {
			d.notText = true
			return
		}
		p = p[size:]
	}
}

// textRune reports whether a decoded rune may appear in a text document.
func textRune(r rune, size int) bool {
	if r == utf8.RuneError && size == 1 {
		return false // not UTF-8
	}
	return !unicode.IsControl(r) || r == '\n' || r == '\r' || r == '\t'
}

// describe says what the document is for the person: the text itself when
// it is text (cut to MaxSummaryText characters), else its size and
// SHA-256; and the sdk.Document the host shows and journals.
func (d *documentScan) describe() (string, sdk.Document) {
	sum := d.sum.Sum(nil)
	if d.size > 0 && !d.notText && len(d.pending) == 0 {
		head := d.head
		for !utf8.Valid(head) { // the head may end inside a character
			head = head[:len(head)-1]
		}
		text := strings.Join(strings.Fields(string(head)), " ")
		if r := []rune(text); len(r) > MaxSummaryText || d.size > int64(len(head)) {
			text = string(r[:min(len(r), MaxSummaryText)]) + "…"
		}
		return fmt.Sprintf("the text %q (%d bytes)", text, d.size),
			sdk.Document{Name: "document.txt", Size: d.size, SHA256: sum, ContentType: "text/plain; charset=utf-8"}
	}
	return fmt.Sprintf("a document of %d bytes, SHA-256 %s", d.size, hex.EncodeToString(sum)),
		sdk.Document{Name: "document", Size: d.size, SHA256: sum, ContentType: "application/octet-stream"}
}

// describeDocument describes data in memory (see documentScan.describe).
func describeDocument(data []byte) (string, sdk.Document) {
	d := newDocumentScan()
	d.Write(data)
	return d.describe()
}

// describeDocumentArg describes the document of a data_64 argument,
// decoding it as a stream (nothing of it is kept).
func describeDocumentArg(s string) (string, sdk.Document, error) {
	r, err := newBase64Reader(s, MaxDocument)
	if err != nil {
		return "", sdk.Document{}, errBadArgument("data_64", err)
	}
	d := newDocumentScan()
	if _, err := io.Copy(d, r); err != nil {
		return "", sdk.Document{}, errBadArgument("data_64", err)
	}
	what, doc := d.describe()
	return what, doc, nil
}

// documentArgReader streams the document of a data_64 argument that
// describeDocumentArg has accepted.
func documentArgReader(s string) (io.Reader, error) {
	r, err := newBase64Reader(s, MaxDocument)
	if err != nil {
		return nil, errBadArgument("data_64", err)
	}
	return r, nil
}
