package eimzo_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/cms/cmstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Helpers shared by the pkcs7, x509, pkcs10 and app tests.

// fn builds a request of plugin.name with string arguments.
func fn(plugin, name string, args ...string) map[string]any {
	if args == nil {
		args = []string{}
	}
	return map[string]any{"plugin": plugin, "name": name, "arguments": args}
}

// mustOK fails unless reply is a success, and returns it.
func mustOK(t testing.TB, what string, reply map[string]any) map[string]any {
	t.Helper()
	require.Equal(t, true, reply["success"], "%s: %v, want success", what, reply)
	require.Equal(t, float64(1), reply["status"], "%s: %v, want success", what, reply)
	return reply
}

// mustFail fails unless reply is a failure with status, and returns its
// reason.
func mustFail(t testing.TB, what string, reply map[string]any, status int) string {
	t.Helper()
	require.Equal(t, false, reply["success"], "%s: %v, want status %d", what, reply, status)
	require.Equal(t, float64(status), reply["status"], "%s: %v, want status %d", what, reply, status)
	r, _ := reply["reason"].(string)
	require.NotEmpty(t, r, "%s: no reason in %v", what, reply)
	return r
}

// str returns reply[field] as a non-empty string.
func str(t testing.TB, reply map[string]any, field string) string {
	t.Helper()
	s, ok := reply[field].(string)
	require.True(t, ok, "no %s in %v", field, reply)
	require.NotEmpty(t, s, "no %s in %v", field, reply)
	return s
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err, "base64 %.40q…", s)
	return b
}

// consentLog is a consent Asker that approves everything (picking the
// first candidate key, as consent.AllowAll) and records the requests; deny
// refuses the requests it matches.
type consentLog struct {
	mu   sync.Mutex
	reqs []consent.Request
	deny func(consent.Request) bool
}

func (l *consentLog) Ask(ctx context.Context, req consent.Request) error {
	l.mu.Lock()
	l.reqs = append(l.reqs, req)
	deny := l.deny
	l.mu.Unlock()
	if deny != nil && deny(req) {
		return hsm.ErrDenied
	}
	return consent.AllowAll.Ask(ctx, req)
}

// withSummary returns the recorded requests whose summary contains s.
func (l *consentLog) withSummary(s string) []consent.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []consent.Request
	for _, r := range l.reqs {
		if strings.Contains(r.Summary, s) {
			out = append(out, r)
		}
	}
	return out
}

// tokenHost starts the plugin with the pseudo-id "ckc" narrowed (plugin
// option token_key) to the plugintest token key labelled label, and
// returns it with that key. A first host is started to learn the key's
// URI.
func tokenHost(t testing.TB, label string, cfg *plugintest.Config) (*plugintest.Host, hsm.KeyInfo) {
	t.Helper()
	h0 := plugintest.Start(t, pkg, nil)
	key := h0.Key(t, label)
	if cfg == nil {
		cfg = &plugintest.Config{}
	}
	opts := map[string]string{"token_key": key.URI}
	for k, v := range cfg.Options {
		opts[k] = v
	}
	cfg.Options = opts
	return plugintest.Start(t, pkg, cfg), key
}

// caFile writes the root and intermediate of pki to one PEM file for
// openssl's -CAfile (openssl 3.0 cms -verify has no option for untrusted
// intermediates, and the test token holds no CA certificates, so its keys
// carry no chain; TestPKCS7TokenKeyCarriesTokenChain adds them).
func caFile(t testing.TB, pki *softhsmtest.PKI) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	var b []byte
	for _, c := range []*x509.Certificate{pki.Root, pki.Intermediate} {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// opensslVerify checks a CMS signature with `openssl cms -verify` against
// pki (the message need not carry the intermediate). content is the
// detached content, or nil for an attached message, whose content must
// then be want.
func opensslVerify(t testing.TB, pki *softhsmtest.PKI, der, content, want []byte) {
	t.Helper()
	ca := caFile(t, pki)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "sig.p7s"), filepath.Join(dir, "out")
	require.NoError(t, os.WriteFile(in, der, 0o600))
	args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", in, "-CAfile", ca, "-purpose", "any", "-out", out}
	if content != nil {
		cf := filepath.Join(dir, "content")
		require.NoError(t, os.WriteFile(cf, content, 0o600))
		args = append(args, "-content", cf)
	}
	msg, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, "openssl cms -verify:\n%s", msg)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, orContent(want, content), got, "openssl: verified content")
}

// opensslEd25519 verifies an Ed25519 SignerInfo (RFC 8419: SHA-512
// messageDigest, signature over the DER signed attributes as a SET) with
// `openssl pkeyutl -verify -rawin`.
func opensslEd25519(t testing.TB, si *cms.SignerInfo, cert *x509.Certificate) {
	t.Helper()
	require.True(t, si.DigestAlgorithm.Algorithm.Equal(cms.OIDDigestSHA512), "Ed25519 signer digest algorithm %v", si.DigestAlgorithm.Algorithm)
	require.True(t, si.SignatureAlgorithm.Algorithm.Equal(cms.OIDSignatureEd25519), "Ed25519 signer signature algorithm %v", si.SignatureAlgorithm.Algorithm)
	attrs := append([]byte(nil), si.RawSignedAttributes...)
	attrs[0] = 0x31 // [0] IMPLICIT → SET
	spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	require.NoError(t, err)
	dir := t.TempDir()
	files := map[string][]byte{
		"pub.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}),
		"attrs":   attrs,
		"sig":     si.Signature,
	}
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", filepath.Join(dir, "pub.pem"), "-rawin",
		"-in", filepath.Join(dir, "attrs"), "-sigfile", filepath.Join(dir, "sig")).CombinedOutput()
	require.NoError(t, err, "openssl pkeyutl -verify (Ed25519):\n%s", out)
	require.Contains(t, string(out), "Signature Verified Successfully", "openssl pkeyutl -verify (Ed25519)")
}

func orContent(want, content []byte) []byte {
	if want != nil {
		return want
	}
	return content
}

// signReply checks a signing reply against the CMS it carries: the
// signer_serial_number is cert's serial (big.Int.Text(16)), signature_hex
// is that signer's signature value. It returns the DER and that signer.
func checkSignReply(t testing.TB, reply map[string]any, cert *x509.Certificate) ([]byte, *cms.SignerInfo) {
	t.Helper()
	der := unb64(t, str(t, reply, "pkcs7_64"))
	sd, err := cms.ParseSignedData(der)
	require.NoError(t, err, "pkcs7_64")
	serial := str(t, reply, "signer_serial_number")
	// Text(16) is lower case without leading zeros.
	require.Equal(t, cert.SerialNumber.Text(16), serial, "signer_serial_number")
	require.Equal(t, strings.ToLower(serial), serial, "signer_serial_number in lower case")
	require.False(t, strings.HasPrefix(serial, "0"), "signer_serial_number %q has a leading zero", serial)
	var si *cms.SignerInfo
	for _, s := range sd.Signers {
		if s.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			si = s
		}
	}
	require.NotNil(t, si, "no signer for serial %s", serial)
	got := str(t, reply, "signature_hex")
	require.Equal(t, hex.EncodeToString(si.Signature), got, "signature_hex")
	require.Equal(t, si.SignatureHex(), got, "signature_hex")
	return der, si
}

// verifyGo checks every signer of der with sdk/cms against pki's root and
// returns the report.
func verifyGo(t testing.TB, pki *softhsmtest.PKI, der, content []byte) *cms.Report {
	t.Helper()
	opts := &cms.VerifyOptions{Roots: pki.Roots(), Intermediates: pki.Intermediates()}
	var rep *cms.Report
	var err error
	if content != nil {
		rep, err = cms.Verify(der, bytes.NewReader(content), opts)
	} else {
		rep, err = cms.Verify(der, nil, opts)
	}
	require.NoError(t, err, "sdk/cms verify")
	for _, s := range rep.Signers {
		require.True(t, s.Valid(), "signer %d: %v", s.Index, s.Err())
		require.Equal(t, cms.ChainValid, s.ChainStatus, "signer %d chain: %v", s.Index, s.Err())
	}
	return rep
}

// --- create_pkcs7 ---

func TestPKCS7CreateAttachedAndDetached(t *testing.T) {
	doc := []byte("Shartnoma №17: 1 000 000 so'm to'lash haqida.\nДоговор о поставке.")
	for _, label := range []string{plugintest.KeyRSA, plugintest.KeyECDSA, plugintest.KeyEd25519} {
		t.Run(label, func(t *testing.T) {
			log := &consentLog{}
			h, key := tokenHost(t, label, &plugintest.Config{Consent: log})
			pki := h.Fixture.PKI
			for _, mode := range []struct {
				name     string
				args     []string
				detached bool
			}{
				{"attached no", []string{b64(doc), "ckc", "no"}, false},
				{"attached empty", []string{b64(doc), "ckc", ""}, false},
				{"attached omitted", []string{b64(doc), "ckc"}, false},
				{"detached yes", []string{b64(doc), "ckc", "yes"}, true},
			} {
				reply := mustOK(t, mode.name, call(t, h, endpoint(h, "wss"), testOrigin, fn("pkcs7", "create_pkcs7", mode.args...)))
				der, si := checkSignReply(t, reply, key.Certificate)
				require.NotNil(t, si.SignatureAlgorithm.Algorithm, "no signature algorithm")
				sd, err := cms.ParseSignedData(der)
				require.NoError(t, err, mode.name)
				require.Equal(t, !mode.detached, sd.HasContent, "%s: HasContent", mode.name)
				var content []byte
				if mode.detached {
					content = doc
				} else {
					require.Equal(t, doc, sd.Content, "%s: content", mode.name)
				}
				rep := verifyGo(t, pki, der, content)
				if !mode.detached {
					require.Equal(t, doc, rep.Content, "%s: verified content", mode.name)
				}
				if label == plugintest.KeyEd25519 {
					// OpenSSL 3.0 cannot verify Ed25519 in CMS (see
					// sdk/cms): check the signature over the signed
					// attributes with openssl pkeyutl instead.
					opensslEd25519(t, si, key.Certificate)
				} else {
					opensslVerify(t, pki, der, content, doc)
				}
			}
			// The person saw the domain, the text and the certificate, and
			// the document's hash.
			// (The token key choice before each signature shows the
			// document too; the Sign names the certificate.)
			reqs := log.withSummary(" with " + key.Certificate.Subject.CommonName)
			require.Len(t, reqs, 4, "sign requests with the expected summary; all: %v", log.reqs)
			sum := sha256.Sum256(doc)
			for _, r := range reqs {
				assert.Contains(t, r.Summary, "Shartnoma №17", "summary lacks the text")
				assert.Contains(t, r.Summary, key.Certificate.Subject.CommonName, "summary lacks the signer")
				assert.Equal(t, testOrigin, r.Origin, "request origin")
				if assert.Len(t, r.Documents, 1, "request documents") {
					assert.Equal(t, sum[:], r.Documents[0].SHA256, "request document hash")
					assert.Equal(t, int64(len(doc)), r.Documents[0].Size, "request document size")
				}
			}
		})
	}
}

func TestPKCS7CreateBinaryAndLongDocuments(t *testing.T) {
	log := &consentLog{}
	h, key := tokenHost(t, plugintest.KeyECDSA, &plugintest.Config{Consent: log})
	bin := []byte{0x25, 0x50, 0x44, 0x46, 0x00, 0x01, 0xff, 0xfe}
	reply := mustOK(t, "binary", call(t, h, endpoint(h, "ws"), testOrigin, fn("pkcs7", "create_pkcs7", b64(bin), "ckc", "yes")))
	der, _ := checkSignReply(t, reply, key.Certificate)
	opensslVerify(t, h.Fixture.PKI, der, bin, nil)
	sum := sha256.Sum256(bin)
	assert.Len(t, log.withSummary("a document of 8 bytes, SHA-256 "+hex.EncodeToString(sum[:])+" with "+key.Certificate.Subject.CommonName), 1,
		"binary summary not found in %v", log.reqs)

	long := []byte(strings.Repeat("uzun matn ", 1000))
	// MIME-style base64 with line breaks and without padding is accepted.
	enc := strings.TrimRight(b64(long), "=")
	var wrapped strings.Builder
	for i := 0; i < len(enc); i += 76 {
		wrapped.WriteString(enc[i:min(i+76, len(enc))] + "\r\n")
	}
	reply = mustOK(t, "long", call(t, h, endpoint(h, "ws"), testOrigin, fn("pkcs7", "create_pkcs7", wrapped.String(), "ckc")))
	der, _ = checkSignReply(t, reply, key.Certificate)
	opensslVerify(t, h.Fixture.PKI, der, nil, long)
	reqs := log.withSummary("(10000 bytes) with " + key.Certificate.Subject.CommonName)
	if assert.Len(t, reqs, 1, "long text summary not found in %v", log.reqs) {
		s := reqs[0].Summary
		assert.LessOrEqual(t, len(s), 600, "long text summary not trimmed: %q", s)
		assert.Contains(t, s, "…", "long text summary not trimmed")
		assert.Contains(t, s, "10000 bytes")
	}
}

func TestPKCS7CreateErrors(t *testing.T) {
	asker := consent.AskerFunc(func(ctx context.Context, r consent.Request) error {
		switch {
		case strings.Contains(r.Summary, "DENY"):
			return hsm.ErrDenied
		case strings.Contains(r.Summary, "CANCEL"):
			return hsm.ErrCancelled // the person closed the dialog
		}
		return consent.AllowAll.Ask(ctx, r)
	})
	h, _ := tokenHost(t, plugintest.KeyRSA, &plugintest.Config{Consent: asker})
	url := endpoint(h, "ws")
	tests := []struct {
		name   string
		origin string
		req    map[string]any
		status int
		reason string
	}{
		{"bad base64", testOrigin, fn("pkcs7", "create_pkcs7", "!!!", "ckc"), -9999, "data_64"},
		{"url-safe base64", testOrigin, fn("pkcs7", "create_pkcs7", "-_-_", "ckc"), -9999, "data_64"},
		{"bad detached", testOrigin, fn("pkcs7", "create_pkcs7", b64([]byte("x")), "ckc", "maybe"), -9999, "detached"},
		{"unknown keyId", testOrigin, fn("pkcs7", "create_pkcs7", b64([]byte("x")), "0123456789abcdef0123456789abcdef"), -1010, "Ключ по идентификатору не найден"},
		{"no arguments", testOrigin, fn("pkcs7", "create_pkcs7"), 0, "Функция не найдена"},
		{"too many", testOrigin, fn("pkcs7", "create_pkcs7", "", "ckc", "no", "x"), 0, "Функция не найдена"},
		{"no origin", "", fn("pkcs7", "create_pkcs7", b64([]byte("x")), "ckc"), -1021, "Не удалось идентифицировать домен"},
		{"person refuses", testOrigin, fn("pkcs7", "create_pkcs7", b64([]byte("DENY this")), "ckc"), -5002, "отменена пользователем"},
		{"person cancels", testOrigin, fn("pkcs7", "create_pkcs7", b64([]byte("CANCEL this")), "ckc", "yes"), -5000, "Ввод пароля отменен"},
	}
	for _, tt := range tests {
		reason := mustFail(t, tt.name, call(t, h, url, tt.origin, tt.req), tt.status)
		assert.Contains(t, reason, tt.reason, "%s: reason", tt.name)
	}
}

// --- co-signing and timestamps ---

func TestPKCS7CoSignAttachedAndDetached(t *testing.T) {
	hRSA, rsaKey := tokenHost(t, plugintest.KeyRSA, nil)
	log := &consentLog{}
	hEC, ecKey := tokenHost(t, plugintest.KeyECDSA, &plugintest.Config{Consent: log})
	pki := hRSA.Fixture.PKI
	doc := []byte("hamkorlik shartnomasi")

	// Attached: RSA signs, ECDSA co-signs.
	first := mustOK(t, "create", call(t, hRSA, endpoint(hRSA, "ws"), testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "no")))
	reply := mustOK(t, "append attached", call(t, hEC, endpoint(hEC, "ws"), testOrigin, fn("pkcs7", "append_pkcs7_attached", str(t, first, "pkcs7_64"), "ckc")))
	der, _ := checkSignReply(t, reply, ecKey.Certificate)
	checkSignReply(t, map[string]any{"pkcs7_64": reply["pkcs7_64"], "signer_serial_number": first["signer_serial_number"], "signature_hex": first["signature_hex"]}, rsaKey.Certificate)
	require.Len(t, verifyGo(t, pki, der, nil).Signers, 2)
	opensslVerify(t, pki, der, nil, doc)
	// The person saw who signed already.
	assert.Len(t, log.withSummary(`portal.example asks to co-sign the text "hamkorlik shartnomasi" (21 bytes), already signed by "`+
		rsaKey.Certificate.Subject.CommonName+`", with `+ecKey.Certificate.Subject.CommonName), 1,
		"co-sign summary not found: %v", log.reqs)
	// token_key names one key: there is nothing to choose, so no key
	// choice is asked and the signature's own request is the person's one
	// dialog; it shows the content inside pkcs7_64 and the signers. (With
	// several keys the choice is that dialog: TestCKCChooserCoSign.)
	checkChooser := func(what string) {
		t.Helper()
		sum := sha256.Sum256(doc)
		var found int
		for _, r := range log.withSummary(`asks to co-sign the text "hamkorlik shartnomasi" (21 bytes), already signed by "` +
			rsaKey.Certificate.Subject.CommonName + `", with ` + ecKey.Certificate.Subject.CommonName) {
			if r.Kind == consent.Sign && r.KeyURI == ecKey.URI && len(r.Documents) == 1 && bytes.Equal(r.Documents[0].SHA256, sum[:]) {
				found++
			}
		}
		log.mu.Lock()
		for _, r := range log.reqs {
			assert.Empty(t, r.Choices, "%s: a key choice with one candidate: %v", what, r)
		}
		log.mu.Unlock()
		assert.Equal(t, 1, found, "%s: signature requests showing the co-signed document; requests: %v", what, log.reqs)
	}
	checkChooser("attached")
	log.mu.Lock()
	log.reqs = nil
	log.mu.Unlock()

	// Detached.
	first = mustOK(t, "create detached", call(t, hRSA, endpoint(hRSA, "ws"), testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "yes")))
	reply = mustOK(t, "append detached", call(t, hEC, endpoint(hEC, "ws"), testOrigin, fn("pkcs7", "append_pkcs7_detached", b64(doc), str(t, first, "pkcs7_64"), "ckc")))
	der, _ = checkSignReply(t, reply, ecKey.Certificate)
	checkChooser("detached")
	rep := verifyGo(t, pki, der, doc)
	require.Len(t, rep.Signers, 2, "detached co-signature")
	require.True(t, rep.Detached, "detached co-signature")
	opensslVerify(t, pki, der, doc, nil)

	// The wrong kind of message for each function.
	url := endpoint(hEC, "ws")
	mustFail(t, "append_attached on detached", call(t, hEC, url, testOrigin, fn("pkcs7", "append_pkcs7_attached", str(t, first, "pkcs7_64"), "ckc")), -9999)
	mustFail(t, "append_detached on attached", call(t, hEC, url, testOrigin, fn("pkcs7", "append_pkcs7_detached", b64(doc), b64(der[:len(der)/2]), "ckc")), -9999)
	mustFail(t, "garbage pkcs7", call(t, hEC, url, testOrigin, fn("pkcs7", "append_pkcs7_attached", b64([]byte("not cms")), "ckc")), -9999)
}

// TestPKCS7BERInput co-signs and describes a BER message (indefinite
// lengths, as E-IMZO's BouncyCastle writes them).
func TestPKCS7BERInput(t *testing.T) {
	h, ecKey := tokenHost(t, plugintest.KeyECDSA, nil)
	pki := h.Fixture.PKI
	sw, err := pki.NewSoftwareKey(softhsmtest.ECP256, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	doc := []byte("BER hujjat")
	var ber bytes.Buffer
	require.NoError(t, cms.SignAttachedStream(&ber, bytes.NewReader(doc), -1, sw.Key, sw.Certificate, &cms.SignOptions{Chain: sw.Chain}))
	require.True(t, bytes.HasPrefix(ber.Bytes(), []byte{0x30, 0x80}), "not indefinite-length BER: % x", ber.Bytes()[:4])
	url := endpoint(h, "ws")
	info := mustOK(t, "info", call(t, h, url, testOrigin, fn("pkcs7", "get_pkcs7_attached_info", b64(ber.Bytes()), "")))
	p := info["pkcs7Info"].(map[string]any)
	require.Equal(t, b64(doc), p["documentBase64"], "pkcs7Info %v", p)
	require.Len(t, p["signers"], 1, "pkcs7Info %v", p)
	reply := mustOK(t, "append", call(t, h, url, testOrigin, fn("pkcs7", "append_pkcs7_attached", b64(ber.Bytes()), "ckc")))
	der, _ := checkSignReply(t, reply, ecKey.Certificate)
	verifyGo(t, pki, der, nil)
	opensslVerify(t, pki, der, nil, doc)
}

func TestPKCS7AttachTimestampToken(t *testing.T) {
	h, _ := tokenHost(t, plugintest.KeyRSA, nil)
	pki := h.Fixture.PKI
	tsa := cmstest.NewTSA(t, pki)
	url := endpoint(h, "ws")
	doc := []byte("vaqt tamg'asi")
	signed := mustOK(t, "create", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc")))
	sig, _ := hex.DecodeString(str(t, signed, "signature_hex"))
	imprint := sha256.Sum256(sig)
	token := tsa.Token(t, crypto.SHA256, imprint[:])
	serial := str(t, signed, "signer_serial_number")

	// Upper case and a leading zero are the same serial.
	for _, s := range []string{serial, "0" + strings.ToUpper(serial)} {
		reply := mustOK(t, "attach "+s, call(t, h, url, testOrigin, fn("pkcs7", "attach_timestamp_token_pkcs7", str(t, signed, "pkcs7_64"), s, b64(token))))
		assert.Len(t, reply, 3, "reply fields %v, want success, status, pkcs7_64", reply)
		der := unb64(t, str(t, reply, "pkcs7_64"))
		rep := verifyGo(t, pki, der, nil)
		ts := rep.Signers[0].Timestamp
		require.NotNil(t, ts, "timestamp")
		require.True(t, ts.Valid(), "timestamp %+v", ts)
		opensslVerify(t, pki, der, nil, doc)
		sd, err := cms.ParseSignedData(der)
		require.NoError(t, err)
		got, ok := sd.Signers[0].TimestampToken()
		require.True(t, ok, "no token attached")
		require.Equal(t, token, got, "token not attached as given")
		// The info function reports it.
		info := mustOK(t, "info", call(t, h, url, testOrigin, fn("pkcs7", "get_pkcs7_attached_info", b64(der), "")))
		signer := info["pkcs7Info"].(map[string]any)["signers"].([]any)[0].(map[string]any)
		tv, ok := signer["timeStampInfo"].(map[string]any)
		require.True(t, ok, "timeStampInfo %v", signer["timeStampInfo"])
		require.Equal(t, true, tv["verified"], "timeStampInfo %v", tv)
		require.Equal(t, cmstest.TestPolicy.String(), tv["tsaPolicy"], "timeStampInfo %v", tv)
	}

	other := sha256.Sum256([]byte("another signature"))
	wrong := tsa.Token(t, crypto.SHA256, other[:])
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"token over another value", []string{str(t, signed, "pkcs7_64"), serial, b64(wrong)}},
		{"unknown serial", []string{str(t, signed, "pkcs7_64"), "abcdef", b64(token)}},
		{"serial not hex", []string{str(t, signed, "pkcs7_64"), "xyz", b64(token)}},
		{"token not a token", []string{str(t, signed, "pkcs7_64"), serial, b64([]byte("junk"))}},
		{"pkcs7 not cms", []string{b64([]byte("junk")), serial, b64(token)}},
	} {
		mustFail(t, tt.name, call(t, h, url, testOrigin, fn("pkcs7", "attach_timestamp_token_pkcs7", tt.args...)), -9999)
	}
}

// --- info and verification ---

func TestPKCS7InfoAndVerify(t *testing.T) {
	h, key := tokenHost(t, plugintest.KeyECDSA, nil)
	url := endpoint(h, "ws")
	doc := []byte("tekshiriladigan hujjat")
	att := mustOK(t, "attached", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc")))
	det := mustOK(t, "detached", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), "ckc", "yes")))

	checkInfo := func(what string, reply map[string]any, signed map[string]any, attached bool) {
		t.Helper()
		p, ok := reply["pkcs7Info"].(map[string]any)
		require.True(t, ok, "%s: no pkcs7Info in %v", what, reply)
		if attached {
			assert.Equal(t, b64(doc), p["documentBase64"], "%s: documentBase64", what)
		} else {
			assert.Nil(t, p["documentBase64"], "%s: documentBase64", what)
		}
		signers := p["signers"].([]any)
		require.Len(t, signers, 1, "%s: signers", what)
		s := signers[0].(map[string]any)
		id := s["signerId"].(map[string]any)
		sum := sha256.Sum256(doc)
		assert.Equal(t, signed["signature_hex"], s["signature"], "%s: signature of signer %v", what, s)
		assert.Equal(t, signed["signer_serial_number"], id["subjectSerialNumber"], "%s: subjectSerialNumber of signer %v", what, s)
		assert.Equal(t, hex.EncodeToString(sum[:]), s["digest"], "%s: digest of signer %v", what, s)
		assert.Equal(t, true, s["verified"], "%s: verified of signer %v", what, s)
		assert.Equal(t, false, s["certificateVerified"], "%s: certificateVerified of signer %v", what, s)
		assert.Equal(t, true, s["certificateValidAtSigningTime"], "%s: certificateValidAtSigningTime of signer %v", what, s)
		assert.Equal(t, "SHA256withECDSA", s["signAlgName"], "%s: signAlgName of signer %v", what, s)
		if id["issuer"] != "CN=Signet Test Intermediate CA" {
			assert.Contains(t, id["issuer"], "CN=", "%s: issuer", what)
		}
		st, _ := s["signingTime"].(string)
		if assert.Len(t, st, len("2006.01.02 15:04:05"), "%s: signingTime %q", what, st) {
			assert.Equal(t, byte('.'), st[4], "%s: signingTime %q", what, st)
		}
		certs := s["certificate"].([]any)
		c0 := certs[0].(map[string]any)
		assert.Equal(t, key.Certificate.SerialNumber.Text(16), c0["serialNumber"], "%s: certificate %v", what, c0)
		assert.Equal(t, "EC", c0["publicKey"].(map[string]any)["keyAlgName"], "%s: certificate %v", what, c0)
	}
	checkInfo("attached info", mustOK(t, "attached info", call(t, h, url, testOrigin, fn("pkcs7", "get_pkcs7_attached_info", str(t, att, "pkcs7_64"), ""))), att, true)
	checkInfo("detached info", mustOK(t, "detached info", call(t, h, url, testOrigin, fn("pkcs7", "get_pkcs7_detached_info", b64(doc), str(t, det, "pkcs7_64"), ""))), det, false)
	checkInfo("verify attached", mustOK(t, "verify attached", call(t, h, url, testOrigin, fn("pkcs7", "verify_pkcs7_attached", str(t, att, "pkcs7_64"), ""))), att, true)
	checkInfo("verify attached requester", mustOK(t, "verify attached", call(t, h, url, testOrigin, fn("pkcs7", "verify_pkcs7_attached", str(t, att, "pkcs7_64"), "", "req-1"))), att, true)
	checkInfo("verify detached", mustOK(t, "verify detached", call(t, h, url, testOrigin, fn("pkcs7", "verify_pkcs7_detached", b64(doc), str(t, det, "pkcs7_64"), ""))), det, false)

	// Other data: the info says not verified, verify fails.
	tampered := b64([]byte("boshqa hujjat"))
	info := mustOK(t, "tampered info", call(t, h, url, testOrigin, fn("pkcs7", "get_pkcs7_detached_info", tampered, str(t, det, "pkcs7_64"), "")))
	s := info["pkcs7Info"].(map[string]any)["signers"].([]any)[0].(map[string]any)
	assert.Equal(t, false, s["verified"], "tampered: signer %v", s)
	assert.Contains(t, s["exception"], "digest", "tampered: signer %v", s)
	reason := mustFail(t, "verify tampered", call(t, h, url, testOrigin, fn("pkcs7", "verify_pkcs7_detached", tampered, str(t, det, "pkcs7_64"), "")), -9999)
	assert.Contains(t, reason, "Подпись недействительна")
	// A flipped signature byte in an attached message.
	der := unb64(t, str(t, att, "pkcs7_64"))
	sig, _ := hex.DecodeString(str(t, att, "signature_hex"))
	i := bytes.Index(der, sig)
	bad := append([]byte(nil), der...)
	bad[i+len(sig)/2] ^= 1
	mustFail(t, "verify bad signature", call(t, h, url, testOrigin, fn("pkcs7", "verify_pkcs7_attached", b64(bad), "")), -9999)

	// A signature dated before the certificate's validity: the info says
	// so, verify fails.
	sw, err := h.Fixture.PKI.NewSoftwareKey(softhsmtest.ECP256, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	early, err := cms.Sign(doc, sw.Key, sw.Certificate, &cms.SignOptions{SigningTime: sw.Certificate.NotBefore.Add(-24 * time.Hour)})
	require.NoError(t, err)
	info = mustOK(t, "early info", call(t, h, url, testOrigin, fn("pkcs7", "get_pkcs7_attached_info", b64(early), "")))
	s = info["pkcs7Info"].(map[string]any)["signers"].([]any)[0].(map[string]any)
	assert.Equal(t, true, s["verified"], "early signer %v", s)
	assert.Equal(t, false, s["certificateValidAtSigningTime"], "early signer %v", s)
	reason = mustFail(t, "verify early", call(t, h, url, testOrigin, fn("pkcs7", "verify_pkcs7_attached", b64(early), "")), -9999)
	assert.Contains(t, reason, "not valid at the signing time", "early reason")

	// Trust stores, wrong kinds, garbage.
	reason = mustFail(t, "trust store", call(t, h, url, testOrigin, fn("pkcs7", "get_pkcs7_attached_info", str(t, att, "pkcs7_64"), "ts1")), -1010)
	assert.Contains(t, reason, "ts1", "trust store reason")
	mustFail(t, "verify trust store", call(t, h, url, testOrigin, fn("pkcs7", "verify_pkcs7_attached", str(t, att, "pkcs7_64"), "ts1")), -1010)
	mustFail(t, "attached info of detached", call(t, h, url, testOrigin, fn("pkcs7", "get_pkcs7_attached_info", str(t, det, "pkcs7_64"), "")), -9999)
	mustFail(t, "detached info of attached", call(t, h, url, testOrigin, fn("pkcs7", "get_pkcs7_detached_info", b64(doc), str(t, att, "pkcs7_64"), "")), -9999)
	mustFail(t, "garbage", call(t, h, url, testOrigin, fn("pkcs7", "verify_pkcs7_attached", "MIIB", "")), -9999)
}

// TestPKCS7LegacyHiddenFromAPIDoc: the legacy functions work but apidoc
// lists only create_pkcs7 (as E-IMZO v6 does).
func TestPKCS7LegacyHiddenFromAPIDoc(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	raw := rawCall(t, h, endpoint(h, "ws"), testOrigin, map[string]any{"name": "apidoc"})
	require.Contains(t, string(raw), `"create_pkcs7"`, "apidoc does not list create_pkcs7")
	for _, name := range []string{"append_pkcs7_attached", "append_pkcs7_detached", "attach_timestamp_token_pkcs7",
		"get_pkcs7_attached_info", "get_pkcs7_detached_info", "verify_pkcs7_attached", "verify_pkcs7_detached"} {
		assert.NotContains(t, string(raw), `"`+name+`"`, "apidoc lists legacy %s", name)
	}
}

// TestPKCS7WithPFXKey signs with E-IMZO-like key files (pfx.load_key
// keyIds): the message carries the chain user → CA → root, and verifies
// with openssl against the files' root alone.
func TestPKCS7WithPFXKey(t *testing.T) {
	h, fxs := pfxEnv(t, nil)
	url := endpoint(h, "wss")
	doc := []byte("E-IMZO hujjati")
	for _, name := range []string{"VALI", "DILNOZA"} {
		f := pfxFixtureByName(t, fxs, name)
		id := loadKey(t, h, testOrigin, f, f.Alias)
		for _, detached := range []string{"no", "yes"} {
			reply := mustOK(t, name+" "+detached, call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), id, detached)))
			der, _ := checkSignReply(t, reply, f.Cert)
			sd, err := cms.ParseSignedData(der)
			require.NoError(t, err, name)
			want := append([]*x509.Certificate{f.Cert}, f.Chain...)
			require.Len(t, sd.Certificates, len(want), "%s: certificates, want user, CA, root", name)
			for i, c := range want {
				assert.True(t, sd.Certificates[i].Equal(c), "%s: certificate %d is %s, want %s", name, i, sd.Certificates[i].Subject, c.Subject)
			}
			var content []byte
			if detached == "yes" {
				content = doc
			}
			// Only the root is trusted: the intermediate comes from the
			// message.
			root := filepath.Join(t.TempDir(), "root.pem")
			require.NoError(t, os.WriteFile(root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.PKI.Root.Raw}), 0o600))
			args := []string{"cms", "-verify", "-binary", "-inform", "DER", "-in", "/dev/stdin", "-CAfile", root, "-purpose", "any", "-out", "/dev/null"}
			if content != nil {
				cf := filepath.Join(t.TempDir(), "content")
				require.NoError(t, os.WriteFile(cf, content, 0o600))
				args = append(args, "-content", cf)
			}
			cmd := exec.Command("openssl", args...)
			cmd.Stdin = bytes.NewReader(der)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s: openssl cms -verify with the root only:\n%s", name, out)
			rep, err := cms.Verify(der, contentOrNil(content), &cms.VerifyOptions{Roots: f.PKI.Roots()})
			require.NoError(t, err, "%s: sdk/cms", name)
			require.True(t, rep.Valid(), "%s: sdk/cms: not valid", name)
			require.Equal(t, cms.ChainValid, rep.Signers[0].ChainStatus, "%s: sdk/cms chain", name)
		}
		// The info lists the whole chain with E-IMZO names.
		signed := mustOK(t, "sign", call(t, h, url, testOrigin, fn("pkcs7", "create_pkcs7", b64(doc), id)))
		info := mustOK(t, "info", call(t, h, url, testOrigin, fn("pkcs7", "get_pkcs7_attached_info", str(t, signed, "pkcs7_64"), "")))
		s := info["pkcs7Info"].(map[string]any)["signers"].([]any)[0].(map[string]any)
		certs := s["certificate"].([]any)
		if assert.Len(t, certs, 3, "%s: certificate list %v", name, certs) {
			subject, _ := certs[0].(map[string]any)["subjectName"].(string)
			assert.True(t, strings.HasPrefix(subject, "CN="+f.Cert.Subject.CommonName+",NAME="), "%s: subjectName %q", name, subject)
			assert.Contains(t, subject, ",1.2.860.3.16.1.2="+f.Person.PINFL, "%s: subjectName", name)
		}

	}
}

// contentOrNil is the detached content reader for cms.Verify.
func contentOrNil(content []byte) io.Reader {
	if content == nil {
		return nil
	}
	return bytes.NewReader(content)
}
