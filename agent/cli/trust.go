package cli

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/localca"
	"github.com/signet-agent/signet/agent/trust"
)

func newTrustCmd(a *App) *cobra.Command {
	var configPath string
	var noSystem, noNSS bool
	var systemFile string
	stores := func() ([]trust.Store, error) {
		var out []trust.Store
		if !noSystem {
			s, err := trust.DetectSystem()
			if err != nil {
				a.Warn(fmt.Errorf("system store: %w (use --no-system to skip it)", err))
			} else {
				if systemFile != "" {
					s.FileName = systemFile
				}
				out = append(out, s)
			}
		}
		if !noNSS {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("find home directory: %w", err)
			}
			out = append(out, trust.NSSDatabases(home)...)
		}
		return out, nil
	}
	loadConfig := func() (*config.Config, error) {
		return config.Load(configPath)
	}

	cmd := &cobra.Command{
		Use:   "trust",
		Short: "Trust the agent's local TLS CA in the system store and browsers (install, uninstall, status)",
		Long: `Manage trust in the agent's local certificate authority, which issues the TLS
certificates of plugin listeners (wss://127.0.0.1:64443, https://local.cipher.kiev.ua:9091, ...).

Stores: the system store (Debian/Ubuntu, Fedora/RHEL, Arch, openSUSE; needs root, else sudo
is used) and NSS databases: Chromium's ~/.pki/nssdb and every Firefox profile (via certutil
from libnss3-tools). The CA is name-constrained to loopback addresses, localhost and the
names the configuration lists (tls.names, plugins' listen names), so it cannot vouch for
any other site. install prints the constraints it is about to trust and says when they
changed since the last install.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&configPath, "config", "", "configuration `file` (default $XDG_CONFIG_HOME/signet/config.yaml)")
	pf.BoolVar(&noSystem, "no-system", false, "leave the system trust store alone")
	pf.BoolVar(&noNSS, "no-nss", false, "leave the NSS databases (Chromium, Firefox) alone")
	// Tests install under their own file name so that they never touch a
	// real installation's CA file.
	pf.StringVar(&systemFile, "system-file", "", "file `name` of the CA in the system anchor directory (default "+trust.DefaultFileName+")")
	_ = pf.MarkHidden("system-file")

	cmd.AddCommand(&cobra.Command{
		Use:   "install",
		Short: "Create the local CA if needed and trust it in every store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			ca, err := localca.Open(localca.Dir(cfg.DataDir), cfg.TLSNames(), localca.Options{})
			if err != nil {
				return fmt.Errorf("local CA: %w", err)
			}
			if ca.Rotated {
				fmt.Fprintln(a.Stderr, "signet: the local CA was replaced (names changed or end of life); restart a running agent")
			}
			caDir := localca.Dir(cfg.DataDir)
			if err := printInstallPlan(a, caDir, ca); err != nil {
				return err
			}
			st, err := stores()
			if err != nil {
				return err
			}
			var failed []error
			installed := false
			for _, s := range st {
				if err := s.Install(ca.Certificate()); err != nil {
					failed = append(failed, err)
					continue
				}
				installed = true
				fmt.Fprintf(a.Stdout, "installed the local CA in %s\n", s.Name())
			}
			if installed {
				if err := trust.RecordInstalled(caDir, ca.Certificate()); err != nil {
					failed = append(failed, err)
				}
			}
			return errors.Join(failed...)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "uninstall",
		Short: "Remove every Signet CA from every store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := stores()
			if err != nil {
				return err
			}
			var failed []error
			for _, s := range st {
				if err := s.Uninstall(); err != nil {
					failed = append(failed, err)
					continue
				}
				fmt.Fprintf(a.Stdout, "removed Signet CAs from %s\n", s.Name())
			}
			return errors.Join(failed...)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Say, per store, whether the local CA is trusted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			dir := localca.Dir(cfg.DataDir)
			ca, err := localca.Load(dir, localca.Options{})
			switch {
			case errors.Is(err, os.ErrNotExist):
				fmt.Fprintf(a.Stdout, "local CA: none yet in %s (`signet serve` or `signet trust install` creates it)\n", dir)
				ca = nil
			case err != nil:
				return fmt.Errorf("local CA: %w", err)
			default:
				c := ca.Certificate()
				fmt.Fprintf(a.Stdout, "local CA: %s\n  SHA-256 %s; expires %s\n  trusted only for: %s\n",
					ca.CertFile(), ca.Fingerprint(), c.NotAfter.Format("2006-01-02"), localca.Constraints(c))
			}
			st, err := stores()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "STORE\tTRUSTED\tLOCATION\tDETAIL")
			for _, s := range st {
				var r trust.Status
				if ca == nil {
					r = s.Status(nil)
				} else {
					r = s.Status(ca.Certificate())
				}
				yes := "no"
				if r.Trusted {
					yes = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Store, yes, r.Location, r.Detail)
			}
			return tw.Flush()
		},
	})
	return cmd
}

// printInstallPlan shows the name constraints of the CA about to be
// trusted and how they compare with the CA installed last.
func printInstallPlan(a *App, caDir string, ca *localca.CA) error {
	c := ca.Certificate()
	fmt.Fprintf(a.Stdout, "local CA: %s\n  SHA-256 %s; expires %s\n  trusted only for: %s\n",
		ca.CertFile(), ca.Fingerprint(), c.NotAfter.Format("2006-01-02"), localca.Constraints(c))
	change, prev, err := trust.CompareInstalled(caDir, c)
	if err != nil {
		return err
	}
	switch change {
	case trust.FirstInstall:
		fmt.Fprintln(a.Stdout, "  first install of a Signet CA from this data directory")
	case trust.Unchanged:
		fmt.Fprintln(a.Stdout, "  the same CA as the last install")
	case trust.SameConstraints:
		fmt.Fprintln(a.Stdout, "  a new CA since the last install, with the same constraints")
	case trust.ConstraintsChanged:
		fmt.Fprintf(a.Stdout, "  the constraints CHANGED since the last install; they were: %s\n", localca.Constraints(prev))
	}
	return nil
}
