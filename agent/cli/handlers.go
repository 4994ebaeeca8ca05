package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/signet-agent/signet/internal/atomicfile"
	"github.com/spf13/cobra"
)

// URL schemes signet registers with the desktop, and the desktop entry
// that handles them (`signet open %u`).
var handlerSchemes = []string{"cryptoarm"}

// HandlerDesktopID is the file name of signet's URL-handler desktop entry.
const HandlerDesktopID = "signet-url-handler.desktop"

// errBadExec: the executable path cannot be written into a desktop entry.
var errBadExec = errors.New("executable path not usable in a desktop entry")

func newInstallHandlersCmd(a *App) *cobra.Command {
	var print bool
	var exe string
	cmd := &cobra.Command{
		Use:   "install-handlers",
		Short: "Register signet as the desktop's handler of cryptoarm:// links",
		Long: `Write the desktop entry ` + HandlerDesktopID + ` (MimeType=x-scheme-handler/cryptoarm;,
Exec=<signet> open %u) into $XDG_DATA_HOME/applications and make it the default
handler of its schemes with xdg-mime. With --print, write the entry to stdout
instead (for packages), naming --exec as the executable.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if exe == "" {
				p, err := os.Executable()
				if err != nil {
					return fmt.Errorf("install-handlers: find the signet executable: %w", err)
				}
				exe = p
			}
			entry, err := DesktopEntry(exe)
			if err != nil {
				return usagef("install-handlers: %v", err)
			}
			if print {
				_, err := a.Stdout.Write(entry)
				return err
			}
			dir, err := applicationsDir()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("install-handlers: %w", err)
			}
			path := filepath.Join(dir, HandlerDesktopID)
			if err := atomicfile.Write(path, entry, 0o644); err != nil {
				return fmt.Errorf("install-handlers: %w", err)
			}
			fmt.Fprintf(a.Stdout, "wrote %s\n", path)
			xdgMime, err := exec.LookPath("xdg-mime")
			if err != nil {
				fmt.Fprintf(a.Stdout, "xdg-mime not found: the desktop entry is installed but not made the default; run\n")
				for _, s := range handlerSchemes {
					fmt.Fprintf(a.Stdout, "  xdg-mime default %s x-scheme-handler/%s\n", HandlerDesktopID, s)
				}
				return nil
			}
			for _, s := range handlerSchemes {
				c := exec.CommandContext(cmd.Context(), xdgMime, "default", HandlerDesktopID, "x-scheme-handler/"+s)
				if out, err := c.CombinedOutput(); err != nil {
					return fmt.Errorf("install-handlers: xdg-mime default %s x-scheme-handler/%s: %v: %s", HandlerDesktopID, s, err, bytes.TrimSpace(out))
				}
				fmt.Fprintf(a.Stdout, "default handler of %s:// links: %s\n", s, HandlerDesktopID)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&print, "print", false, "print the desktop entry to stdout; install nothing")
	cmd.Flags().StringVar(&exe, "exec", "", "signet `path` for the entry's Exec line (default: this executable)")
	return cmd
}

func newUninstallHandlersCmd(a *App) *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall-handlers",
		Short: "Remove signet's desktop entry and its URL-scheme associations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := applicationsDir()
			if err != nil {
				return err
			}
			path := filepath.Join(dir, HandlerDesktopID)
			switch err := os.Remove(path); {
			case err == nil:
				fmt.Fprintf(a.Stdout, "removed %s\n", path)
			case errors.Is(err, fs.ErrNotExist):
				fmt.Fprintf(a.Stdout, "%s was not installed\n", path)
			default:
				return fmt.Errorf("uninstall-handlers: %w", err)
			}
			cfg, err := xdgDir("XDG_CONFIG_HOME", ".config")
			if err != nil {
				return err
			}
			list := filepath.Join(cfg, "mimeapps.list")
			changed, err := dropAssociations(list, HandlerDesktopID, handlerSchemes)
			if err != nil {
				return fmt.Errorf("uninstall-handlers: %w", err)
			}
			if changed {
				fmt.Fprintf(a.Stdout, "removed the associations from %s\n", list)
			}
			return nil
		},
	}
}

// DesktopEntry is signet's URL-handler desktop entry for the executable
// exe (an absolute path), as install-handlers writes it.
func DesktopEntry(exe string) ([]byte, error) {
	if !filepath.IsAbs(exe) {
		return nil, fmt.Errorf("%w: %q is not absolute", errBadExec, exe)
	}
	if strings.ContainsFunc(exe, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, fmt.Errorf("%w: %q has control characters", errBadExec, exe)
	}
	var mime strings.Builder
	for _, s := range handlerSchemes {
		mime.WriteString("x-scheme-handler/" + s + ";")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `[Desktop Entry]
Type=Application
Name=Signet
GenericName=Signing agent
Comment=Open cryptoarm:// signing links with the Signet agent
Exec=%s open %%u
Terminal=false
NoDisplay=true
MimeType=%s
Categories=Utility;Security;
`, execArg(exe), mime.String())
	return b.Bytes(), nil
}

// execArg quotes a path for an Exec key: bare when it has only safe
// characters, else in double quotes with ", `, $ and \ escaped — and then
// every backslash doubled again, since Exec is itself a string value whose
// escapes are undone first (Desktop Entry Specification, "The Exec key").
func execArg(s string) string {
	safe := !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == '+' ||
			(r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r >= 0x80)
	})
	if safe {
		return s
	}
	var q strings.Builder
	q.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '`', '$', '\\':
			q.WriteByte('\\')
		case '%':
			q.WriteByte('%') // a literal % is %%
		}
		q.WriteRune(r)
	}
	q.WriteByte('"')
	return strings.ReplaceAll(q.String(), `\`, `\\`)
}

func applicationsDir() (string, error) {
	d, err := xdgDir("XDG_DATA_HOME", filepath.Join(".local", "share"))
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "applications"), nil
}

// xdgDir is $env when it is an absolute path, else ~/def.
func xdgDir(env, def string) (string, error) {
	if d := os.Getenv(env); filepath.IsAbs(d) {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("$%s unset and no home directory: %w", env, err)
	}
	return filepath.Join(home, def), nil
}

// dropAssociations removes id from the values of x-scheme-handler/<s>
// keys in a mimeapps.list file (every group), dropping keys left empty. A
// missing file is nothing to do.
func dropAssociations(path, id string, schemes []string) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var out bytes.Buffer
	changed := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if scheme, isHandler := strings.CutPrefix(key, "x-scheme-handler/"); ok && isHandler && slices.Contains(schemes, scheme) {
			var keep []string
			dropped := false
			for _, v := range strings.Split(val, ";") {
				switch v = strings.TrimSpace(v); {
				case v == id:
					dropped = true
				case v != "":
					keep = append(keep, v)
				}
			}
			if dropped {
				changed = true
				if len(keep) == 0 {
					continue
				}
				line = key + "=" + strings.Join(keep, ";") + ";"
			}
		}
		out.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	if !changed {
		return false, nil
	}
	return true, atomicfile.Write(path, out.Bytes(), 0o644)
}
