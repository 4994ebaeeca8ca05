package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/hsm"
)

func newKeysCmd(a *App) *cobra.Command {
	var asJSON, unlock bool
	c := &cobra.Command{
		Use:   "keys",
		Short: "List keys and certificates with their URIs",
		Long: "List the private keys and certificates of every token and PFX file, with the URI\n" +
			"that names each key in other commands. PFX files are listed without a password\n" +
			"where the file allows it; most files keep their certificates encrypted, and\n" +
			"--unlock opens those (asking for the password, or reading $SIGNET_PFX_PASSWORD\n" +
			"or --password-file) to show their certificates.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := a.Store()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			toks, terr := store.Tokens(ctx)
			keys, kerr := store.Keys(ctx)
			if unlock {
				relist := false
				for _, k := range keys {
					if k.HasPrivateKey && k.Certificate == nil && strings.HasPrefix(k.TokenURI, "file:") {
						if _, err := ensurePublicKey(ctx, store, k); err != nil {
							a.Warn(err)
						}
						relist = true
					}
				}
				if relist {
					keys, kerr = store.Keys(ctx)
				}
			}
			if kerr != nil {
				a.Warn(kerr)
			} else if terr != nil {
				a.Warn(terr)
			}
			a.WarnProblems(store)
			sortKeys(keys)
			if asJSON {
				out := []KeyJSON{}
				for _, k := range keys {
					out = append(out, keyJSON(k))
				}
				return writeJSON(a.Stdout, out)
			}
			byToken := map[string][]hsm.KeyInfo{}
			for _, k := range keys {
				byToken[k.TokenURI] = append(byToken[k.TokenURI], k)
			}
			if len(toks) == 0 && len(keys) == 0 {
				fmt.Fprintln(a.Stdout, "no tokens or key files found")
			}
			shown := map[string]bool{}
			for _, t := range toks {
				shown[t.URI] = true
				describeToken(a.Stdout, t)
				if len(byToken[t.URI]) == 0 {
					fmt.Fprintln(a.Stdout, "  (no keys)")
				}
				for _, k := range byToken[t.URI] {
					describeKey(a.Stdout, k)
				}
				fmt.Fprintln(a.Stdout)
			}
			for _, k := range keys { // keys of tokens that went away meanwhile
				if !shown[k.TokenURI] {
					describeKey(a.Stdout, k)
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.Flags().BoolVar(&unlock, "unlock", false, "unlock PFX files whose certificates are encrypted, to show them")
	return c
}
