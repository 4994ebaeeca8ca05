package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newTokensCmd(a *App) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "tokens",
		Short: "List tokens and PFX key files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := a.Store()
			if err != nil {
				return err
			}
			toks, err := store.Tokens(cmd.Context())
			if err != nil {
				a.Warn(err)
			}
			a.WarnProblems(store)
			if asJSON {
				out := []TokenJSON{}
				for _, t := range toks {
					out = append(out, tokenJSON(t))
				}
				return writeJSON(a.Stdout, out)
			}
			if len(toks) == 0 {
				fmt.Fprintln(a.Stdout, "no tokens or key files found")
			}
			for _, t := range toks {
				describeToken(a.Stdout, t)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
