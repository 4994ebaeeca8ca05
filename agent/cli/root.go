// Package cli is the signet command line: a cobra root command ([NewRoot])
// with the global key-store flags, and one file per subcommand. The signet
// binary calls [Main]; tests call [Run] with their own [App] (output
// buffers, a fixed [App.Prompt]). Every error is printed once, by Run, with
// a hint for the sentinel errors people hit (wrong PIN, cancelled prompt,
// missing key). Token PINs come from --pin-file, else $SIGNET_PIN, else a
// terminal prompt on /dev/tty without echo; PFX passwords from
// --password-file, else $SIGNET_PFX_PASSWORD, else the terminal (package
// agent/prompt). A secret is never printed.
//
// A command is one file with a constructor, added to the commands list in
// root.go (one line). It takes the key store and the output streams from the
// [App], and returns errors rather than printing them:
//
//	func newTokensCmd(a *App) *cobra.Command {
//		return &cobra.Command{
//			Use:   "tokens",
//			Short: "List tokens and PFX key files",
//			Args:  cobra.NoArgs,
//			RunE: func(cmd *cobra.Command, _ []string) error {
//				store, err := a.Store() // opened on first use, from the global flags
//				if err != nil {
//					return err
//				}
//				toks, err := store.Tokens(cmd.Context())
//				...
//				fmt.Fprintln(a.Stdout, ...)
//			},
//		}
//	}
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/agent/keybackends"
	"github.com/signet-agent/signet/agent/prompt"
	"github.com/signet-agent/signet/hsm"
)

// commands are the subcommands, in help order. One line per command.
var commands = []func(*App) *cobra.Command{
	newTokensCmd,
	newKeysCmd,
	newSignCmd,
	newVerifyCmd,
	newKeygenCmd,
	newCSRCmd,
	newImportCertCmd,
	newServeCmd,
	newPluginsCmd,
	newOpenCmd,
	newInstallHandlersCmd,
	newUninstallHandlersCmd,
	newDashboardCmd,
	newTrustCmd,
	newJournalCmd,
	newCloudSignCmd,
	newServiceCmd,
	newDoctorCmd,
}

// Environment variables the CLI reads.
const (
	EnvPIN         = "SIGNET_PIN"
	EnvPFXPassword = "SIGNET_PFX_PASSWORD"
)

// App is the state shared by the subcommands.
type App struct {
	Stdout, Stderr io.Writer

	// Global flags.
	Modules      []string
	PFXDirs      []string
	PFXFiles     []string
	EIMZO        bool
	NoProbe      bool
	MaxSessions  int
	IdleTimeout  time.Duration
	PINFile      string
	PasswordFile string

	// Prompt overrides the PIN/password sources (tests, the daemon).
	Prompt hsm.PINPrompt

	once     sync.Once
	store    *hsm.Store
	storeErr error
}

// Store opens the key store from the global flags on first use. Modules
// that fail to load are reported on stderr as warnings; the store is
// returned with the others.
func (a *App) Store() (*hsm.Store, error) {
	a.once.Do(func() {
		store, err := keybackends.Open(keybackends.Config{
			Modules:          a.Modules,
			NoProbe:          a.NoProbe,
			PFXDirs:          a.PFXDirs,
			PFXFiles:         a.PFXFiles,
			EIMZO:            a.EIMZO,
			MaxSessions:      a.MaxSessions,
			LoginIdleTimeout: a.IdleTimeout,
		}, a.prompt())
		if err != nil {
			a.Warn(err)
		}
		if len(store.Backends()) == 0 {
			a.storeErr = errors.New("no key sources: no PKCS#11 module loaded and no PFX files configured (use --module, --pfx-dir, --pfx or --eimzo)")
			return
		}
		a.store = store
	})
	return a.store, a.storeErr
}

func (a *App) prompt() hsm.PINPrompt {
	if a.Prompt != nil {
		return a.Prompt
	}
	term := prompt.Terminal()
	pin, pw := term, term
	switch {
	case a.PINFile != "":
		pin = prompt.FromFile(a.PINFile)
	case os.Getenv(EnvPIN) != "":
		pin = prompt.FromEnv(EnvPIN)
	}
	switch {
	case a.PasswordFile != "":
		pw = prompt.FromFile(a.PasswordFile)
	case os.Getenv(EnvPFXPassword) != "":
		pw = prompt.FromEnv(EnvPFXPassword)
	}
	return prompt.ByKind(pin, pw)
}

// Warn prints a non-fatal problem (each line of a joined error) to stderr.
func (a *App) Warn(err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			a.Warn(e)
		}
		return
	}
	fmt.Fprintf(a.Stderr, "warning: %v\n", err)
}

// WarnProblems prints what the backends' last listings skipped (objects a
// token holds that Signet cannot read, unreadable PFX files, missing
// directories).
func (a *App) WarnProblems(store *hsm.Store) {
	for _, msg := range store.Problems() {
		fmt.Fprintf(a.Stderr, "warning: %s\n", msg)
	}
}

func (a *App) close() {
	if a.store != nil {
		a.store.Close()
	}
}

// NewRoot returns the root command with every subcommand.
func NewRoot(a *App) *cobra.Command {
	root := &cobra.Command{
		Use:           "signet",
		Short:         "Signet signing agent: keys on PKCS#11 tokens and PFX files",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	f := root.PersistentFlags()
	f.StringArrayVar(&a.Modules, "module", nil, "PKCS#11 module `path` (repeatable; default: probe the well-known modules)")
	f.StringArrayVar(&a.PFXDirs, "pfx-dir", nil, "`directory` scanned for *.pfx and *.p12 key files (repeatable)")
	f.StringArrayVar(&a.PFXFiles, "pfx", nil, "PFX key `file` (repeatable)")
	f.BoolVar(&a.EIMZO, "eimzo", false, "scan the E-IMZO layout: every disk root and its DSKEYS folder")
	f.BoolVar(&a.NoProbe, "no-probe", false, "do not probe well-known PKCS#11 modules when no --module is given")
	f.IntVar(&a.MaxSessions, "max-sessions", 0, "maximum PKCS#11 sessions per token (0: backend default)")
	f.DurationVar(&a.IdleTimeout, "login-idle-timeout", 0, "forget a login or unlocked PFX key after this long unused (0: keep)")
	f.StringVar(&a.PINFile, "pin-file", "", "read token PINs from `file` (default $"+EnvPIN+", else ask on the terminal)")
	f.StringVar(&a.PasswordFile, "password-file", "", "read PFX passwords from `file` (default $"+EnvPFXPassword+", else ask on the terminal)")
	for _, c := range commands {
		root.AddCommand(c(a))
	}
	return root
}

// Main runs the CLI with args (without the program name) and returns the
// exit code: 0 on success, 1 on error, 2 on a usage error.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return Run(ctx, &App{Stdout: os.Stdout, Stderr: os.Stderr}, args)
}

// Run runs the CLI on a; see Main.
func Run(ctx context.Context, a *App, args []string) int {
	root := NewRoot(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	a.close()
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(a.Stderr, "signet: %v\n", err)
		return 2
	}
	fmt.Fprintf(a.Stderr, "signet: %v\n", err)
	if h := hint(err); h != "" {
		fmt.Fprintf(a.Stderr, "  %s\n", h)
	}
	return 1
}

// usageError marks errors in the command line itself.
type usageError struct{ error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func hint(err error) string {
	switch {
	case errors.Is(err, hsm.ErrPINLocked):
		return "the PIN is locked; unblock it with the token's SO PIN or PUK"
	case errors.Is(err, hsm.ErrFinalTry):
		return "the token is on its final PIN try; enter the PIN on a terminal and type YES to use it"
	case errors.Is(err, hsm.ErrPINIncorrect):
		return "the PIN or password was refused"
	case errors.Is(err, hsm.ErrCancelled):
		return "no PIN or password was given"
	case errors.Is(err, hsm.ErrKeyNotFound):
		return "run `signet keys` to see the key URIs"
	case errors.Is(err, hsm.ErrTokenRemoved):
		return "is the token inserted? run `signet tokens`"
	case errors.Is(err, hsm.ErrUnsupported):
		return "this key store cannot do that"
	}
	return ""
}
