package cli

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/hsm"
)

// maxEd25519Message bounds what sign reads into memory for Ed25519, which
// signs the message itself rather than a digest.
const maxEd25519Message = 64 << 20

func newSignCmd(a *App) *cobra.Command {
	var keyURI, in, out, hashName string
	var pss bool
	c := &cobra.Command{
		Use:   "sign --key URI --in FILE [--out FILE]",
		Short: "Sign a file with a key, producing a raw signature",
		Long: "Sign FILE with the key named by URI and write the raw signature: PKCS#1 v1.5 or\n" +
			"PSS for RSA, ASN.1 DER (r, s) for ECDSA, 64 bytes for Ed25519 (which signs the\n" +
			"file itself; --hash does not apply). Without --out the signature is printed in\n" +
			"base64. Verify with e.g. `openssl dgst -sha256 -verify pub.pem -signature SIG FILE`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" {
				return usagef("--in is required")
			}
			h, err := parseHash(hashName)
			if err != nil {
				return err
			}
			store, err := a.Store()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ki, err := findKey(ctx, store, keyURI)
			if err != nil {
				return err
			}
			if pss && ki.Algorithm != "" && ki.Algorithm != hsm.RSA {
				return usagef("--pss needs an RSA key; %s is %s", ki.URI, ki.Algorithm)
			}
			signEd := func() ([]byte, error) {
				if pss {
					return nil, usagef("--pss needs an RSA key; %s is Ed25519", ki.URI)
				}
				msg, err := readBounded(in, maxEd25519Message)
				if err != nil {
					return nil, err
				}
				return store.Sign(ctx, ki.URI, msg, crypto.Hash(0))
			}
			var sig []byte
			if ki.Algorithm == hsm.Ed25519 {
				sig, err = signEd()
			} else {
				digest, derr := hashFile(in, h)
				if derr != nil {
					return derr
				}
				var opts crypto.SignerOpts = h
				if pss {
					opts = &rsa.PSSOptions{Hash: h, SaltLength: rsa.PSSSaltLengthEqualsHash}
				}
				sig, err = store.Sign(ctx, ki.URI, digest, opts)
				if err != nil && ki.Algorithm == "" && errors.Is(err, hsm.ErrInvalidRequest) {
					// A locked PFX key whose type was unknown: now it is unlocked.
					if again, ferr := findKey(ctx, store, ki.URI); ferr == nil && again.Algorithm == hsm.Ed25519 {
						ki = again
						sig, err = signEd()
					}
				}
			}
			if err != nil {
				return fmt.Errorf("sign %s with %s: %w", in, ki.URI, err)
			}
			if out == "" {
				fmt.Fprintln(a.Stdout, base64.StdEncoding.EncodeToString(sig))
				return nil
			}
			if err := os.WriteFile(out, sig, 0o644); err != nil {
				return fmt.Errorf("write signature: %w", err)
			}
			fmt.Fprintf(a.Stderr, "signature (%d bytes) written to %s\n", len(sig), out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&keyURI, "key", "", "key `URI` (see `signet keys`)")
	f.StringVar(&in, "in", "", "`file` to sign")
	f.StringVar(&out, "out", "", "write the raw signature to `file` (default: base64 on stdout)")
	f.StringVar(&hashName, "hash", "sha256", "digest: sha256, sha384 or sha512")
	f.BoolVar(&pss, "pss", false, "RSA-PSS (salt length = digest length) instead of PKCS#1 v1.5")
	return c
}

func parseHash(name string) (crypto.Hash, error) {
	switch name {
	case "sha256", "SHA256", "sha-256":
		return crypto.SHA256, nil
	case "sha384", "SHA384", "sha-384":
		return crypto.SHA384, nil
	case "sha512", "SHA512", "sha-512":
		return crypto.SHA512, nil
	}
	return 0, usagef("--hash %q: want sha256, sha384 or sha512", name)
}

func hashFile(path string, h crypto.Hash) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hh := h.New()
	if _, err := io.Copy(hh, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return hh.Sum(nil), nil
}

func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is over %d bytes", path, max)
	}
	return data, nil
}
