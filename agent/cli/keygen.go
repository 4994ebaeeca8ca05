package cli

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/hsm"
)

func newKeygenCmd(a *App) *cobra.Command {
	var tokenURI, typ, label, idHex string
	var asJSON bool
	c := &cobra.Command{
		Use:   "keygen --token URI --type rsa2048|p256|p384|ed25519 --label LABEL",
		Short: "Generate a key pair on a token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tokenURI == "" {
				return usagef("--token is required (a token URI from `signet tokens`)")
			}
			if label == "" {
				return usagef("--label is required")
			}
			alg, bits, err := parseKeyType(typ)
			if err != nil {
				return err
			}
			var id []byte
			if idHex != "" {
				if id, err = hex.DecodeString(idHex); err != nil {
					return usagef("--id %q: not hex", idHex)
				}
			}
			store, err := a.Store()
			if err != nil {
				return err
			}
			ki, err := store.GenerateKey(cmd.Context(), hsm.GenerateKeyRequest{
				TokenURI: tokenURI, Label: label, ID: id, Algorithm: alg, Bits: bits,
			})
			if err != nil {
				return fmt.Errorf("generate %s key %q on %s: %w", typ, label, tokenURI, err)
			}
			if asJSON {
				return writeJSON(a.Stdout, keyJSON(ki))
			}
			fmt.Fprintln(a.Stdout, "generated:")
			describeKey(a.Stdout, ki)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&tokenURI, "token", "", "token `URI` (see `signet tokens`)")
	f.StringVar(&typ, "type", "p256", "key type: rsa2048, rsa3072, rsa4096, p256, p384, p521, ed25519")
	f.StringVar(&label, "label", "", "key label (CKA_LABEL)")
	f.StringVar(&idHex, "id", "", "key id (CKA_ID) in hex; generated when empty")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func parseKeyType(t string) (hsm.KeyAlgorithm, int, error) {
	switch t {
	case "rsa2048":
		return hsm.RSA, 2048, nil
	case "rsa3072":
		return hsm.RSA, 3072, nil
	case "rsa4096":
		return hsm.RSA, 4096, nil
	case "p256":
		return hsm.ECDSA, 256, nil
	case "p384":
		return hsm.ECDSA, 384, nil
	case "p521":
		return hsm.ECDSA, 521, nil
	case "ed25519":
		return hsm.Ed25519, 256, nil
	}
	return "", 0, usagef("--type %q: want rsa2048, rsa3072, rsa4096, p256, p384, p521 or ed25519", t)
}
