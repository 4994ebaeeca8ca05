package cipher

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzApplyOptions: any option body either applies (and every enum field
// holds a known value) or is a 400 that leaves the options as they were.
func FuzzApplyOptions(f *testing.F) {
	for _, s := range []string{
		`{"caId":"testIitCa","signatureType":"attached","cadesType":"CAdESXLong","dataToSignQualifier":"notSignedBefore"}`,
		`{"signatureType":"DETACHED","embedCertificateType":"NOTHING","signatureTsVerifyOption":"IGNORE"}`,
		`{"embedSignatureTs":"true","duplicateSign":true,"embedDataTs":false}`,
		`{"cadesType":"CADES_T","asicForm":"NONE"}`, `{"unknown":1}`, `[]`, `null`, `{"caId":5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := defaultOptions()
		after, err := applyOptions(before, body)
		if err != nil {
			var ae *apiError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusBadRequest, ae.status)
			assert.NotEmpty(t, ae.cause)
			return
		}
		assert.Contains(t, []string{"", cadesBES, cadesT}, after.Cades)
		assert.Contains(t, []string{embedSigner, embedSignerAndCA, embedSignerAndCAInfo, embedNothing}, after.EmbedCert)
		assert.Contains(t, []string{tsCheckIgnore, tsCheckIfPresent, tsCheckOrFailMissing}, after.SignatureTsCheck)
		assert.LessOrEqual(t, len(after.CAID), 256)
	})
}

// FuzzAccessTimes: only positive integers up to the maximum pass.
func FuzzAccessTimes(f *testing.F) {
	for _, s := range []string{`5`, `"5"`, `0`, `-1`, `2.5`, `"abc"`, `101`, `1e2`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := accessTimes(json.RawMessage(raw), 100)
		if err == nil {
			assert.GreaterOrEqual(t, n, 1)
			assert.LessOrEqual(t, n, 100)
		}
	})
}

// FuzzTicketBodies sends fuzzed bodies and content types to the endpoints
// that need no key store; every answer is one of the API's statuses with
// its {message} object, and the data stays within its limit.
func FuzzTicketBodies(f *testing.F) {
	f.Add(0, "application/json", []byte(`{"base64Data":"aGVsbG8="}`))
	f.Add(0, "application/octet-stream", []byte("raw"))
	f.Add(0, "multipart/form-data; boundary=XX", []byte("--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nhello\r\n--XX--\r\n"))
	f.Add(1, "application/json", []byte(`{"signatureType":"detached"}`))
	f.Add(2, "application/json", []byte(`{"metaData":"<b>x</b>"}`))
	f.Add(3, "application/json", []byte(`{"base64Data":"MIIB"}`))
	f.Add(4, "application/json", []byte(`{"recipientCertificates":["MIIB"]}`))
	f.Add(5, "text/plain", []byte(""))
	limits := DefaultLimits
	limits.MaxData = 1 << 10
	limits.MaxJSON = 4 << 10
	s, err := NewServer(Config{Limits: limits, TempDir: filepath.Join(f.TempDir(), "t")})
	require.NoError(f, err)
	f.Cleanup(s.Close)
	routes := []struct{ method, path string }{
		{"POST", "/data"}, {"PUT", "/option"}, {"PUT", "/metadata"}, {"POST", "/ds/data"},
		{"POST", "/encryptor/certificates"}, {"POST", "/ds/verifier"},
	}
	f.Fuzz(func(t *testing.T, route int, contentType string, body []byte) {
		rt := routes[(route%len(routes)+len(routes))%len(routes)]
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("POST", APIBase+"/ticket", nil))
		var created map[string]string
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &created))
		id := created["ticketUuid"]
		defer func() { _ = s.tickets.delete(id, "") }()

		req := httptest.NewRequest(rt.method, APIBase+"/ticket/"+id+rt.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		rec = httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		assert.Contains(t, []int{200, 400, 413}, rec.Code, "%s", rec.Body)
		var reply map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &reply), "%s", rec.Body)
		assert.NotEmpty(t, reply["message"])
		tk, err := s.tickets.get(id, "")
		require.NoError(t, err)
		tk.mu.Lock()
		defer tk.mu.Unlock()
		if tk.data != nil {
			assert.LessOrEqual(t, tk.data.size, limits.MaxData)
		}
		assert.False(t, strings.Contains(rec.Body.String(), s.cfg.TempDir), "a reply names the private directory")
	})
}
