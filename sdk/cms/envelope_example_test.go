package cms_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/signet-agent/signet/sdk/cms"
)

// Encrypt to a certificate and decrypt with its key. With a token, key is a
// crypto.Decrypter (RSA) or a cms.KeyAgreer (EC) that keeps the private key
// on the token.
func ExampleEncrypt() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "Recipient"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageKeyAgreement,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)

	envelope, err := cms.Encrypt([]byte("secret"), []*x509.Certificate{cert}, cms.EncryptOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}

	// Which of my certificates can open it?
	recipients, _ := cms.EnvelopeRecipients(envelope)
	fmt.Println(recipients[0].Kind, recipients[0].Matches(cert))

	content, err := cms.Decrypt(envelope, cert, key)
	fmt.Printf("%s %v\n", content, err)
	// Output:
	// KeyAgreeRecipientInfo true
	// secret <nil>
}
