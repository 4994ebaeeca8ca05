// Command conformance is a test plugin that exercises every host service
// from a real plugin process. It registers the URL scheme "check"; opening
// check://NAME runs one check inside the plugin and fails the OpenURL call
// with the check's error.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/signet-agent/signet/sdk"
)

// version is the plugin's version; building with the tag plugintest_tag
// changes it (see tag.go).
var version = "1.2.3"

type plugin struct {
	host chan *sdk.Host
}

func (p *plugin) Describe() sdk.Description {
	return sdk.Description{
		Name: "conformance", Version: version, Summary: "exercises the host services",
		URLSchemes: []string{"check"},
		Listeners: []sdk.ListenerSpec{
			{Name: "tls", Addr: "127.0.0.1:0", TLS: true, TLSNames: []string{"conformance.localhost"}},
			{Name: "public", Addr: "127.0.0.1:0", Optional: true},
		},
	}
}

func (p *plugin) Serve(ctx context.Context, host *sdk.Host) error {
	ln, err := host.Listen(ctx, "tls")
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				fmt.Fprintf(c, "hello from %s\n", host.Name())
				c.Close()
			}()
		}
	}()
	p.host <- host
	<-ctx.Done()
	return nil
}

func (p *plugin) OpenURL(ctx context.Context, raw string) error {
	host := <-p.host
	p.host <- host
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	op := sdk.Operation{Origin: "https://conformance.example", Summary: "check " + u.Host, RequestID: u.Query().Get("id")}
	ks := host.KeyService()
	switch u.Host {
	case "tokens":
		toks, err := ks.Tokens(ctx, op)
		if err != nil {
			return err
		}
		for _, t := range toks {
			if t.Label == "plugintest" && t.Backend != "" && t.URI != "" {
				return nil
			}
		}
		return fmt.Errorf("plugintest token not listed: %+v", toks)
	case "sign":
		keys, err := ks.Keys(ctx, op)
		if err != nil {
			return err
		}
		n := 0
		for _, k := range keys {
			if !k.HasPrivateKey || !strings.Contains(k.TokenURI, "token=plugintest") {
				continue
			}
			if k.PublicKey == nil || k.Certificate == nil {
				return fmt.Errorf("key %s without public key or certificate", k.URI)
			}
			msg := []byte("conformance")
			d := sha256.Sum256(msg)
			s := ks.Signer(ctx, k, op)
			switch pub := k.PublicKey.(type) {
			case *rsa.PublicKey:
				sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil {
					return err
				}
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
					return fmt.Errorf("RSA PKCS#1: %w", err)
				}
				sig, err = s.Sign(rand.Reader, d[:], &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash})
				if err != nil {
					return err
				}
				if err := rsa.VerifyPSS(pub, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
					return fmt.Errorf("RSA-PSS: %w", err)
				}
			case *ecdsa.PublicKey:
				sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
				if err != nil {
					return err
				}
				if !ecdsa.VerifyASN1(pub, d[:], sig) {
					return errors.New("ECDSA signature does not verify")
				}
			case ed25519.PublicKey:
				sig, err := s.Sign(rand.Reader, msg, crypto.Hash(0))
				if err != nil {
					return err
				}
				if !ed25519.Verify(pub, msg, sig) {
					return errors.New("Ed25519 signature does not verify")
				}
			}
			n++
		}
		if n < 3 {
			return fmt.Errorf("signed with %d keys, want 3", n)
		}
		return nil
	case "decrypt":
		k, err := findKey(ctx, ks, op, "rsa2048")
		if err != nil {
			return err
		}
		pub := k.PublicKey.(*rsa.PublicKey)
		secret := []byte("a session key")
		ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, secret)
		if err != nil {
			return err
		}
		pt, err := ks.Decrypt(ctx, k.URI, ct, nil, op)
		if err != nil {
			return fmt.Errorf("PKCS#1 v1.5: %w", err)
		}
		if string(pt) != string(secret) {
			return errors.New("PKCS#1 v1.5 plaintext differs")
		}
		ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, secret, nil)
		if err != nil {
			return err
		}
		pt, err = ks.Decrypt(ctx, k.URI, ct, &rsa.OAEPOptions{Hash: crypto.SHA256}, op)
		if err != nil {
			if errors.Is(err, sdk.ErrUnsupported) {
				return nil // a token may lack OAEP
			}
			return fmt.Errorf("OAEP: %w", err)
		}
		if string(pt) != string(secret) {
			return errors.New("OAEP plaintext differs")
		}
		return nil
	case "csr":
		k, err := findKey(ctx, ks, op, "ecdsa-p256")
		if err != nil {
			return err
		}
		der, err := ks.CreateCSR(ctx, k.URI, &x509.CertificateRequest{
			Subject:  pkix.Name{CommonName: "Conformance", Organization: []string{"Signet"}},
			DNSNames: []string{"conformance.example"},
		}, op)
		if err != nil {
			return err
		}
		csr, err := x509.ParseCertificateRequest(der)
		if err != nil {
			return err
		}
		if err := csr.CheckSignature(); err != nil {
			return fmt.Errorf("CSR signature: %w", err)
		}
		if csr.Subject.CommonName != "Conformance" || len(csr.DNSNames) != 1 || csr.DNSNames[0] != "conformance.example" {
			return fmt.Errorf("CSR content: %v %v", csr.Subject, csr.DNSNames)
		}
		if !k.PublicKey.(*ecdsa.PublicKey).Equal(csr.PublicKey) {
			return errors.New("CSR is not for the key")
		}
		return nil
	case "notfound":
		_, err := ks.Key(ctx, "pkcs11:token=plugintest;object=no-such-key;type=private", op)
		if !errors.Is(err, sdk.ErrKeyNotFound) {
			return fmt.Errorf("got %v, want ErrKeyNotFound", err)
		}
		return nil
	case "grant":
		// Offer a grant of 3 with the first signature, then present it.
		k, err := findKey(ctx, ks, op, "ecdsa-p256")
		if err != nil {
			return err
		}
		d := sha256.Sum256([]byte("grant"))
		var grant string
		first := op
		first.GrantUses, first.OnGrant = 3, func(id string) { grant = id }
		if _, err := ks.Sign(ctx, k.URI, d[:], crypto.SHA256, first); err != nil {
			return fmt.Errorf("first signature: %w", err)
		}
		if grant == "" {
			return errors.New("no grant reported to OnGrant")
		}
		next := op
		next.GrantID = grant
		for i := 2; i <= 3; i++ {
			if _, err := ks.Sign(ctx, k.URI, d[:], crypto.SHA256, next); err != nil {
				return fmt.Errorf("signature %d with the grant: %w", i, err)
			}
		}
		if _, err := ks.Sign(ctx, k.URI, d[:], crypto.SHA256, next); !errors.Is(err, sdk.ErrDenied) {
			return fmt.Errorf("fourth signature with a grant of 3: got %v, want ErrDenied", err)
		}
		return nil
	case "denied":
		k, err := findKey(ctx, ks, op, "rsa2048")
		if err != nil {
			return err
		}
		d := sha256.Sum256([]byte("x"))
		_, err = ks.Sign(ctx, k.URI, d[:], crypto.SHA256, op)
		if !errors.Is(err, sdk.ErrDenied) {
			return fmt.Errorf("got %v, want ErrDenied", err)
		}
		return nil
	case "request-id":
		// A failed signature does not use up its request id; a successful
		// one does.
		k, err := findKey(ctx, ks, op, "ed25519")
		if err != nil {
			return err
		}
		op.RequestID = "once-" + u.Query().Get("n")
		msg := []byte("request id")
		d := sha256.Sum256(msg)
		if _, err := ks.Sign(ctx, k.URI, d[:], crypto.SHA256, op); err == nil {
			return errors.New("Ed25519 with a SHA-256 prehash succeeded")
		}
		if _, err := ks.Sign(ctx, k.URI, msg, crypto.Hash(0), op); err != nil {
			return fmt.Errorf("retry after a failed signature: %w", err)
		}
		if _, err := ks.Sign(ctx, k.URI, msg, crypto.Hash(0), op); !errors.Is(err, sdk.ErrInvalidRequest) {
			return fmt.Errorf("second signature for one request id: got %v, want ErrInvalidRequest", err)
		}
		return nil
	case "consent":
		return host.Consent().Ask(ctx, "", op)
	case "log":
		host.Logger().With("check", "log").WithGroup("g").Info("conformance log record", "answer", 42)
		return nil
	case "listen-public":
		_, err := host.Listen(ctx, "public")
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			return fmt.Errorf("non-loopback listen: got %v, want a refusal", err)
		}
		return nil
	case "option":
		if got := host.Option("greeting"); got != "hello" {
			return fmt.Errorf("option greeting = %q", got)
		}
		return nil
	}
	return fmt.Errorf("unknown check %q", u.Host)
}

func findKey(ctx context.Context, ks *sdk.KeyService, op sdk.Operation, label string) (sdk.Key, error) {
	keys, err := ks.Keys(ctx, op)
	if err != nil {
		return sdk.Key{}, err
	}
	for _, k := range keys {
		if k.Label == label && k.HasPrivateKey && strings.Contains(k.TokenURI, "token=plugintest") {
			return k, nil
		}
	}
	return sdk.Key{}, fmt.Errorf("no key %s", label)
}

func main() { sdk.Serve(&plugin{host: make(chan *sdk.Host, 1)}) }
