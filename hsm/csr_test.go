package hsm_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pkcs11"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateCSR(t *testing.T) {
	env := softhsmtest.Shared()
	b, err := pkcs11.Open(pkcs11.Config{Module: env.Module, PINPrompt: func(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
		return hsm.PINResponse{PIN: []byte(softhsmtest.DefaultUserPIN)}, nil
	}})
	require.NoError(t, err)
	defer b.Close()
	ctx := context.Background()
	keys, err := b.Keys(ctx)
	require.NoError(t, err)
	store := hsm.NewStore(b)
	policy := asn1.ObjectIdentifier{1, 2, 3, 4, 5}
	tests := []struct {
		key string
		alg x509.SignatureAlgorithm
	}{
		{softhsmtest.KeyRSA, 0},
		{softhsmtest.KeyRSA, x509.SHA256WithRSAPSS},
		{softhsmtest.KeyECDSA, 0},
		{softhsmtest.KeyEd25519, 0},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.alg.String(), func(t *testing.T) {
			var key hsm.KeyInfo
			for _, k := range keys {
				if k.Label == tt.key && strings.Contains(k.TokenURI, "token=csr;") {
					key = k
				}
			}
			der, err := hsm.CreateCSR(ctx, store, key, hsm.CSRRequest{
				Subject:            pkix.Name{CommonName: "Signet Test Person", Organization: []string{"Signet"}, Country: []string{"UZ"}},
				DNSNames:           []string{"signet.example"},
				EmailAddresses:     []string{"person@signet.example"},
				IPAddresses:        []net.IP{net.ParseIP("192.0.2.7")},
				KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
				ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection},
				Policies:           []asn1.ObjectIdentifier{policy},
				SignatureAlgorithm: tt.alg,
			})
			require.NoError(t, err, "CreateCSR")
			csr, err := x509.ParseCertificateRequest(der)
			require.NoError(t, err)
			require.NoError(t, csr.CheckSignature())
			assert.Equal(t, "Signet Test Person", csr.Subject.CommonName, "CSR subject")
			assert.Equal(t, []string{"signet.example"}, csr.DNSNames, "CSR DNS names")
			assert.Equal(t, []string{"person@signet.example"}, csr.EmailAddresses, "CSR e-mail addresses")
			assert.Len(t, csr.IPAddresses, 1, "CSR IP addresses")
			var seen []string
			for _, e := range csr.Extensions {
				seen = append(seen, e.Id.String())
			}
			for _, want := range []string{"2.5.29.15", "2.5.29.37", "2.5.29.32", "2.5.29.17"} {
				assert.Contains(t, seen, want, "extension %s missing", want)
			}
			dir := t.TempDir()
			p := filepath.Join(dir, "req.pem")
			require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600))
			out, err := exec.Command("openssl", "req", "-verify", "-noout", "-text", "-in", p).CombinedOutput()
			require.NoError(t, err, "openssl req -verify\n%s", out)
			for _, want := range []string{"Digital Signature, Non Repudiation", "TLS Web Client Authentication, E-mail Protection", "Policy: 1.2.3.4.5", "DNS:signet.example"} {
				assert.Contains(t, string(out), want, "openssl shows no %q", want)
			}
		})
	}
	_, err = hsm.CreateCSR(ctx, store, hsm.KeyInfo{URI: "pkcs11:token=csr;object=x"}, hsm.CSRRequest{})
	assert.ErrorIs(t, err, hsm.ErrInvalidRequest, "CSR without key")
}
