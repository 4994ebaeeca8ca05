package eimzo

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wholeBase64 is the reference: the argument decoded in one piece with the
// standard library (whitespace removed, padding optional).
func wholeBase64(s string, max int) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	var out []byte
	var err error
	if len(s)%4 == 0 {
		out, err = base64.StdEncoding.DecodeString(s)
	} else {
		out, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err == nil && len(out) > max {
		err = fmt.Errorf("more than %d bytes", max)
	}
	return out, err
}

func TestBase64StreamMatchesWholeDecoding(t *testing.T) {
	long := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("Shartnoma № 17 "), 20000))
	var mime strings.Builder
	for i := 0; i < len(long); i += 76 {
		mime.WriteString(long[i:min(i+76, len(long))] + "\r\n")
	}
	for _, in := range []string{
		"", "QQ==", "QQ", "QUI=", "QUI", "QUJD", "Q", "QQ=", "QQ===", "QQ==QQ==", "QQ==\n", " Q Q = = ",
		"QUJD\nREVG", "QU\tJD", "QUJD!", "QUJ-", "QUJ_", "=QUJ", "QUJD====", long, mime.String(), long[:len(long)-1],
		strings.ReplaceAll(long, "A", "*"),
	} {
		want, wantErr := wholeBase64(in, MaxDocument)
		got, err := decodeBase64(in, MaxDocument)
		if wantErr != nil {
			assert.Error(t, err, "%.40q", in)
			continue
		}
		require.NoError(t, err, "%.40q", in)
		assert.Equal(t, want, got, "%.40q", in)
	}
	_, err := decodeBase64(base64.StdEncoding.EncodeToString(make([]byte, 101)), 100)
	assert.Error(t, err, "one byte over the bound")
	_, err = decodeBase64(base64.StdEncoding.EncodeToString(make([]byte, 100)), 100)
	assert.NoError(t, err, "at the bound")
}

// scanInPieces writes data to a documentScan n bytes at a time.
func scanInPieces(data []byte, n int) (string, string) {
	d := newDocumentScan()
	for len(data) > 0 {
		k := min(n, len(data))
		d.Write(data[:k])
		data = data[k:]
	}
	what, doc := d.describe()
	return what, doc.ContentType
}

func TestDocumentScan(t *testing.T) {
	text := []byte("Договор №\t17\r\nShartnoma — 😀 imzolandi")
	what, doc := describeDocument(text)
	sum := sha256.Sum256(text)
	assert.Equal(t, fmt.Sprintf("the text %q (%d bytes)", "Договор № 17 Shartnoma — 😀 imzolandi", len(text)), what)
	assert.Equal(t, sum[:], doc.SHA256)
	assert.Equal(t, int64(len(text)), doc.Size)
	for n := 1; n <= 5; n++ {
		w, ct := scanInPieces(text, n)
		assert.Equal(t, what, w, "written %d bytes at a time: characters cut between writes", n)
		assert.Equal(t, "text/plain; charset=utf-8", ct)
	}

	for name, data := range map[string][]byte{
		"empty":            {},
		"control":          []byte("abc\x00def"),
		"invalid UTF-8":    []byte("abc\xffdef"),
		"cut character":    []byte("abc\xd0"),
		"surrogate":        []byte("a\xed\xa0\x80b"),
		"escape character": []byte("a\x1b[31mb"),
	} {
		for n := 1; n <= 3; n++ {
			w, ct := scanInPieces(data, n)
			assert.Equal(t, "application/octet-stream", ct, "%s, %d bytes at a time", name, n)
			assert.Contains(t, w, "a document of", name)
		}
	}

	// A long text is quoted from its start and cut.
	long := bytes.Repeat([]byte("слово "), 10000)
	what, _ = describeDocument(long)
	assert.True(t, strings.HasPrefix(what, `the text "слово слово`), what)
	assert.Contains(t, what, fmt.Sprintf("…\" (%d bytes)", len(long)))
	assert.Less(t, len(what), 2*MaxSummaryText*4)
}

func TestDescribeDocumentArgStreams(t *testing.T) {
	data := bytes.Repeat([]byte{0, 1, 2, 3}, 1<<18) // 1 MiB, binary
	arg := base64.StdEncoding.EncodeToString(data)
	what, doc, err := describeDocumentArg(arg)
	require.NoError(t, err)
	wantWhat, wantDoc := describeDocument(data)
	assert.Equal(t, wantWhat, what)
	assert.Equal(t, wantDoc, doc)

	r, err := documentArgReader(arg)
	require.NoError(t, err)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, data, got)

	_, _, err = describeDocumentArg("QUJD!")
	assert.ErrorContains(t, err, "data_64")
}
