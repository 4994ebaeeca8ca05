package cipher_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/signet-agent/signet/sdk/plugintest"
)

// containerPassword is the password of the test's uploaded containers.
const containerPassword = "container-pw-7341"

// newContainer makes a PKCS#12 file (modern PBES2/AES protection) with a
// fresh ECDSA key and its self-signed certificate; it returns the file
// and the certificate's PEM file for OpenSSL.
func newContainer(t *testing.T, password string) ([]byte, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "Uploaded Container Signer"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pfx, err := pkcs12.Modern.Encode(key, cert, nil, password)
	require.NoError(t, err)
	caFile := filepath.Join(t.TempDir(), "container-ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return pfx, caFile
}

// verifyWithCA checks an attached CMS signature with OpenSSL against caFile.
func verifyWithCA(t *testing.T, sig []byte, caFile string, want []byte) {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "sig.p7s")
	require.NoError(t, os.WriteFile(in, sig, 0o600))
	out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", in,
		"-CAfile", caFile, "-purpose", "any", "-out", filepath.Join(dir, "out")).CombinedOutput()
	require.NoError(t, err, "openssl cms -verify: %s", out)
	got, err := os.ReadFile(filepath.Join(dir, "out"))
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// personAnswers is a host password prompt that counts how often the
// person was asked.
func personAnswers(n *atomic.Int32, password string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		n.Add(1)
		return password, nil
	}
}

// TestUploadedContainerSignsAndIsForgotten: a page uploads a PFX
// ({"base64Data"}), the host asks the person for its password, the ticket
// signs with it (consent asked), OpenSSL verifies; DELETE /ticket makes
// the host forget the container.
func TestUploadedContainerSignsAndIsForgotten(t *testing.T) {
	var asked atomic.Int32
	h := plugintest.Start(t, pkg, &plugintest.Config{
		ContainerPassword: personAnswers(&asked, containerPassword),
		Options:           map[string]string{"temp_dir": filepath.Join(t.TempDir(), "tickets")},
	})
	a := api{t: t, h: h, origin: portal}
	pfx, caFile := newContainer(t, containerPassword)
	doc := []byte("signed with an uploaded key")

	id := a.newTicket(doc)
	a.must("PUT", "/ticket/"+id+"/option", "", map[string]any{"signatureType": "attached"})
	a.must("PUT", "/ticket/"+id+"/keyStore", "", map[string]string{"base64Data": base64.StdEncoding.EncodeToString(pfx)})
	assert.Equal(t, 1, h.Containers(), "the host holds the container")
	a.must("POST", "/ticket/"+id+"/ds/creator", "text/plain", "")
	sig := a.signature(id)
	verifyWithCA(t, sig, caFile, doc)
	assert.Equal(t, int32(1), asked.Load(), "the person gave the password once")
	assert.NotEmpty(t, h.Consent().QuestionsOf(plugintest.Sign), "consent is asked for the signature")

	a.must("DELETE", "/ticket/"+id, "", nil)
	assert.Equal(t, 0, h.Containers(), "DELETE /ticket forgets the container")
}

// TestUploadedContainerOctetStreamAndReplace: a raw upload works too; a
// second upload to the same ticket replaces (and forgets) the first.
func TestUploadedContainerOctetStreamAndReplace(t *testing.T) {
	var asked atomic.Int32
	h := plugintest.Start(t, pkg, &plugintest.Config{ContainerPassword: personAnswers(&asked, containerPassword)})
	a := api{t: t, h: h, origin: portal}
	pfx, _ := newContainer(t, containerPassword)
	id := a.newTicket([]byte("x"))
	a.must("PUT", "/ticket/"+id+"/keyStore", "application/octet-stream", pfx)
	a.must("PUT", "/ticket/"+id+"/keyStore", "application/octet-stream", pfx)
	assert.Equal(t, 1, h.Containers())
	a.must("PUT", "/ticket/"+id+"/keyStore", "", map[string]string{"keyStorePath": "pkcs11:token=plugintest"})
	assert.Equal(t, 0, h.Containers(), "naming another key store forgets the container")
}

// TestUploadedContainerNotForOtherTickets: another ticket of the same
// origin cannot name the container, another origin cannot reach the
// ticket, and a ticket without a key store is not offered its key.
func TestUploadedContainerNotForOtherTickets(t *testing.T) {
	var asked atomic.Int32
	h := plugintest.Start(t, pkg, &plugintest.Config{
		Consent:           plugintest.PickKey(plugintest.KeyRSA),
		ContainerPassword: personAnswers(&asked, containerPassword),
	})
	a := api{t: t, h: h, origin: portal}
	pfx, _ := newContainer(t, containerPassword)
	id := a.newTicket([]byte("x"))
	a.must("PUT", "/ticket/"+id+"/keyStore", "", map[string]string{"base64Data": base64.StdEncoding.EncodeToString(pfx)})
	require.Equal(t, 1, h.Containers())

	other := a.newTicket([]byte("y"))
	for _, p := range []string{"file:///.signet-memory/", "/.signet-memory/x.pfx"} {
		r := a.do("PUT", "/ticket/"+other+"/keyStore", "", map[string]string{"keyStorePath": p})
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", p, r.body)
	}
	// Without a key store the other ticket is offered the token's keys,
	// never the uploaded one.
	a.must("POST", "/ticket/"+other+"/ds/creator", "text/plain", "")
	sig := a.signature(other)
	opensslVerify(t, h, sig, nil, []byte("y"))
	assert.Zero(t, asked.Load(), "the container's password was never asked")
	choices := h.Consent().QuestionsOf(plugintest.Sign)
	require.NotEmpty(t, choices)
	for _, q := range choices {
		for _, c := range q.Choices {
			assert.NotContains(t, c, ".signet-memory", "another ticket was offered the uploaded key")
		}
	}

	evil := api{t: t, h: h, origin: "https://evil.example"}
	r := evil.do("POST", "/ticket/"+id+"/ds/creator", "text/plain", "")
	assert.Equal(t, http.StatusBadRequest, r.status, "another origin: %s", r.body)
}

// TestUploadedContainerRefused: garbage, oversized and bad base64 get a
// clear 400 and leave nothing in the host.
func TestUploadedContainerRefused(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	a := api{t: t, h: h, origin: portal}
	id := a.newTicket(nil)
	for name, body := range map[string]any{
		"garbage":   map[string]string{"base64Data": base64.StdEncoding.EncodeToString([]byte("not a PKCS#12 file at all"))},
		"oversized": map[string]string{"base64Data": base64.StdEncoding.EncodeToString(make([]byte, 300<<10))},
		"base64":    map[string]string{"base64Data": "%%%"},
		"empty":     map[string]string{"base64Data": ""},
	} {
		r := a.do("PUT", "/ticket/"+id+"/keyStore", "", body)
		assert.Equal(t, http.StatusBadRequest, r.status, "%s: %s", name, r.body)
		assert.True(t, strings.Contains(string(r.body), "key container") || strings.Contains(string(r.body), "base64"), "%s: %s", name, r.body)
	}
	r := a.do("PUT", "/ticket/"+id+"/keyStore", "application/octet-stream", make([]byte, 300<<10))
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, 0, h.Containers())
}

// TestUploadedContainerForgottenOnExpiry: a ticket that expires takes its
// container with it.
func TestUploadedContainerForgottenOnExpiry(t *testing.T) {
	h := plugintest.Start(t, pkg, &plugintest.Config{Options: map[string]string{"ticket_ttl": "3s"}})
	a := api{t: t, h: h, origin: portal}
	pfx, _ := newContainer(t, containerPassword)
	id := a.newTicket(nil)
	a.must("PUT", "/ticket/"+id+"/keyStore", "application/octet-stream", pfx)
	require.Equal(t, 1, h.Containers())
	deadline := time.Now().Add(30 * time.Second)
	for h.Containers() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, 0, h.Containers(), "the expired ticket's container is forgotten")
	r := a.do("DELETE", "/ticket/"+id, "", nil)
	assert.Equal(t, http.StatusBadRequest, r.status, "the ticket expired: %s", r.body)
}
