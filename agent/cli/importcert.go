package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/sdk/certs"
)

func newImportCertCmd(a *App) *cobra.Command {
	var keyURI, certFile, chainFile, label string
	var asJSON bool
	c := &cobra.Command{
		Use:   "import-cert --key URI --cert FILE [--chain FILE]",
		Short: "Store a certificate (and its CA chain) on the token next to its key",
		Long: "Store the certificate in FILE (PEM or DER) next to the key named by URI, with the\n" +
			"key's id and label; CA certificates from --chain (PEM) are stored beside it. The\n" +
			"certificate must be for that key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if certFile == "" {
				return usagef("--cert is required")
			}
			read, err := readCerts(certFile)
			if err != nil {
				return fmt.Errorf("--cert: %w", err)
			}
			req := hsm.ImportCertificateRequest{Label: label, Certificate: read[0], Chain: read[1:]}
			if chainFile != "" {
				more, err := readCerts(chainFile)
				if err != nil {
					return fmt.Errorf("--chain: %w", err)
				}
				req.Chain = append(req.Chain, more...)
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
			if ki.PublicKey != nil && !certs.SamePublicKey(ki.PublicKey, req.Certificate.PublicKey) {
				return fmt.Errorf("the certificate %q is not for key %s (public keys differ)", req.Certificate.Subject, ki.URI)
			}
			req.KeyURI = ki.URI
			got, err := store.ImportCertificate(ctx, req)
			if err != nil {
				return fmt.Errorf("import %s to %s: %w", certFile, ki.URI, err)
			}
			if asJSON {
				return writeJSON(a.Stdout, keyJSON(got))
			}
			fmt.Fprintln(a.Stdout, "imported:")
			describeKey(a.Stdout, got)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&keyURI, "key", "", "key `URI` (see `signet keys`)")
	f.StringVar(&certFile, "cert", "", "certificate `file` (PEM or DER)")
	f.StringVar(&chainFile, "chain", "", "CA certificates `file` (PEM)")
	f.StringVar(&label, "label", "", "certificate label (default: the key's label)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
