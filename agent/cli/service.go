package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/signet-agent/signet/internal/atomicfile"
	"github.com/spf13/cobra"
)

// UnitName is the systemd user unit that runs `signet serve`.
const UnitName = "signet.service"

// PackagedUnitPath is where the package installs the user unit.
const PackagedUnitPath = "/usr/lib/systemd/user/" + UnitName

// unitMarker is the unit's first line: `signet service uninstall` removes
// only a file that starts with it.
const unitMarker = "# Signet signing agent: systemd user unit written by `signet service`."

// SystemdUnit returns the user unit that runs exe as `exe serve` under
// systemd: Type=notify (the agent says when it is ready), SIGHUP reloads
// the policy, and the sandbox a user unit can have. docs/service.md says
// why each line is there.
func SystemdUnit(exe string) string {
	return unitMarker + `
# Reinstall with: signet service install. See docs/service.md.
[Unit]
Description=Signet signing agent (PKCS#11 tokens and PFX files for web portals)
Documentation=man:signet-serve(1) man:signet-service(1)

[Service]
Type=notify
NotifyAccess=main
ExecStartPre=+/bin/mkdir -p -m 0700 %h/.local/share/signet
ExecStart=` + systemdQuote(exe) + ` serve
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2s
TimeoutStopSec=30s
UMask=0077

# What a user unit can harden. The agent writes only its data directory
# (local CA, journal, remembered decisions) and its runtime directory
# (control socket); it reads PFX files and the configuration anywhere in
# the home directory.
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ReadWritePaths=%h/.local/share/signet %t
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=default.target
`
}

// systemdQuote quotes a path for an Exec line when it needs it.
func systemdQuote(s string) string {
	if !strings.ContainsAny(s, " \t\"'\\%$") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(s) + `"`
}

// userUnitPath is $XDG_CONFIG_HOME/systemd/user/signet.service.
func userUnitPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find configuration directory: %w", err)
	}
	return filepath.Join(dir, "systemd", "user", UnitName), nil
}

// errNoUserManager: systemctl --user cannot reach a user service manager
// (no systemd, no session bus: a container, an ssh session without
// lingering, another init system).
var errNoUserManager = errors.New("systemctl --user cannot reach your service manager")

// systemctl runs `systemctl --user args...` and returns its output. It
// tells errNoUserManager apart from a failing command.
func systemctl(ctx context.Context, args ...string) (string, error) {
	path, err := exec.LookPath("systemctl")
	if err != nil {
		return "", fmt.Errorf("%w (no systemctl on PATH)", errNoUserManager)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, append([]string{"--user"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		if strings.Contains(text, "Failed to connect to bus") || strings.Contains(text, "Failed to connect to user scope bus") ||
			strings.Contains(text, "not been booted with systemd") || strings.Contains(text, "$DBUS_SESSION_BUS_ADDRESS") {
			return text, fmt.Errorf("%w: %s", errNoUserManager, firstLine(text))
		}
		return text, fmt.Errorf("systemctl --user %s: %w: %s", strings.Join(args, " "), err, firstLine(text))
	}
	return text, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func newServiceCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Run the agent as a systemd user service: install, uninstall, status, unit",
		Long: `Run ` + "`signet serve`" + ` as a systemd user service that starts with your session.

The Debian package installs the unit for every user already (enable it with
` + "`systemctl --user enable --now signet`" + `); ` + "`signet service install`" + ` is for
a signet binary you built or copied yourself. It writes the unit to
$XDG_CONFIG_HOME/systemd/user/signet.service and enables and starts it with
` + "`systemctl --user`" + `. Where no user service manager is reachable (a
container, an ssh session, another init system) the unit is still written
and the command says what to run in your desktop session.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newServiceInstallCmd(a), newServiceUninstallCmd(a), newServiceStatusCmd(a), newServiceUnitCmd(a))
	return cmd
}

func executable(flag string) (string, error) {
	if flag != "" {
		if !filepath.IsAbs(flag) {
			return "", usagef("--exec %q: want an absolute path", flag)
		}
		return flag, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the signet binary: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return exe, nil
}

func newServiceUnitCmd(a *App) *cobra.Command {
	var exe string
	cmd := &cobra.Command{
		Use:   "unit",
		Short: "Print the systemd user unit (what install writes; the package ships it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := executable(exe)
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(a.Stdout, SystemdUnit(path))
			return err
		},
	}
	cmd.Flags().StringVar(&exe, "exec", "", "absolute `path` of the signet binary the unit runs (default: this binary)")
	return cmd
}

func newServiceInstallCmd(a *App) *cobra.Command {
	var exe string
	var force bool
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Write the user unit, then enable and start it with systemctl --user",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := executable(exe)
			if err != nil {
				return err
			}
			if _, err := os.Stat(PackagedUnitPath); err == nil && !force {
				return fmt.Errorf("the signet package already installs %s; enable it with `systemctl --user enable --now signet` (or use --force to write your own unit, which then takes its place)", PackagedUnitPath)
			}
			unit, err := userUnitPath()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(unit), 0o755); err != nil {
				return fmt.Errorf("create %s: %w", filepath.Dir(unit), err)
			}
			if err := atomicfile.Write(unit, []byte(SystemdUnit(path)), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.Stdout, "wrote %s (runs %s serve)\n", unit, path)
			for _, args := range [][]string{{"daemon-reload"}, {"enable", "--now", UnitName}} {
				if _, err := systemctl(cmd.Context(), args...); err != nil {
					if errors.Is(err, errNoUserManager) {
						fmt.Fprintf(a.Stderr, "warning: %v\n  the unit is written but not enabled; in your desktop session run:\n    systemctl --user daemon-reload && systemctl --user enable --now signet\n", err)
						return nil
					}
					return err
				}
			}
			fmt.Fprintln(a.Stdout, "enabled and started signet.service; `signet service status` shows it, `journalctl --user -u signet` its log")
			fmt.Fprintln(a.Stdout, "browsers trust the agent's local pages after `signet trust install` (once)")
			return nil
		},
	}
	cmd.Flags().StringVar(&exe, "exec", "", "absolute `path` of the signet binary the unit runs (default: this binary)")
	cmd.Flags().BoolVar(&force, "force", false, "write the unit even though the package installed one")
	return cmd
}

func newServiceUninstallCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and disable the user service and remove the unit install wrote",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			unit, err := userUnitPath()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(unit)
			switch {
			case errors.Is(err, os.ErrNotExist):
				return fmt.Errorf("no unit at %s: nothing to uninstall (a unit the package installed is disabled with `systemctl --user disable --now signet`)", unit)
			case err != nil:
				return fmt.Errorf("read %s: %w", unit, err)
			case !bytes.HasPrefix(data, []byte(unitMarker)):
				return fmt.Errorf("%s was not written by `signet service install`; left alone", unit)
			}
			_, serr := systemctl(cmd.Context(), "disable", "--now", UnitName)
			if serr != nil && !errors.Is(serr, errNoUserManager) {
				return serr
			}
			if err := os.Remove(unit); err != nil {
				return fmt.Errorf("remove %s: %w", unit, err)
			}
			fmt.Fprintf(a.Stdout, "removed %s\n", unit)
			if serr != nil {
				fmt.Fprintf(a.Stderr, "warning: %v\n  if the service runs in your desktop session, stop it there: systemctl --user stop signet\n", serr)
				return nil
			}
			_, err = systemctl(cmd.Context(), "daemon-reload")
			return err
		},
	}
}

func newServiceStatusCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Say which unit is installed and whether the service is enabled and running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			unit, err := userUnitPath()
			if err != nil {
				return err
			}
			for _, p := range []string{unit, PackagedUnitPath} {
				if _, err := os.Stat(p); err == nil {
					fmt.Fprintf(a.Stdout, "unit: %s\n", p)
				}
			}
			if _, err := os.Stat(unit); err != nil {
				if _, err := os.Stat(PackagedUnitPath); err != nil {
					fmt.Fprintln(a.Stdout, "unit: not installed (run `signet service install`)")
				}
			}
			out, err := systemctl(cmd.Context(), "show", "--property=UnitFileState,ActiveState,SubState,StatusText", UnitName)
			if err != nil {
				fmt.Fprintf(a.Stdout, "service: unknown: %v\n", err)
				return nil
			}
			props := map[string]string{}
			for _, line := range strings.Split(out, "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					props[k] = v
				}
			}
			fmt.Fprintf(a.Stdout, "enabled: %s\nactive: %s (%s)\n", orUnknown(props["UnitFileState"]), orUnknown(props["ActiveState"]), orUnknown(props["SubState"]))
			if st := props["StatusText"]; st != "" {
				fmt.Fprintf(a.Stdout, "status: %s\n", st)
			}
			return nil
		},
	}
}

func orUnknown(s string) string {
	if s = firstLine(s); s == "" {
		return "unknown"
	}
	return s
}
