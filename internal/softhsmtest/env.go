// Package softhsmtest creates real SoftHSM2 tokens, keys, certificates and
// PFX files for Signet's tests and demo. It drives the tools a person would
// use (softhsm2-util, OpenSC's pkcs11-tool), so it stays independent of the
// hsm code it tests; certificates come from a small test PKI ([PKI]: root →
// intermediate → end entity) and PFX files from [WritePFX]. A test binary
// calls [Main] from TestMain, which gives the whole process one private
// token directory (SoftHSM reads SOFTHSM2_CONF once per process); tests then
// create as many tokens as they like in [Shared], each with a unique label,
// and select tokens by label, never by slot number. A token created after
// the code under test has initialised the module is not visible to it until
// the module is re-initialised. An [Env] is safe for concurrent use.
//
//	func TestMain(m *testing.M) { softhsmtest.Main(m) }
//
//	func TestSign(t *testing.T) {
//		fx := softhsmtest.StandardToken(t, softhsmtest.Shared(), "") // RSA, ECDSA and Ed25519 keys with certificates
//		key := fx.Keys[softhsmtest.KeyECDSA]
//		// open the module (softhsmtest.Module()), log in with fx.UserPIN,
//		// sign with key.ID, verify with key.Public
//	}
//
// Design: docs/softhsm-tests.md (one configuration per process, what a
// process with the module loaded sees when tokens come and go).
package softhsmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultModule is the SoftHSM2 PKCS#11 module on Debian and Ubuntu.
const DefaultModule = "/usr/lib/softhsm/libsofthsm2.so"

// ModuleEnvVar overrides the module path.
const ModuleEnvVar = "SIGNET_SOFTHSM_MODULE"

// toolTimeout bounds every external tool run.
const toolTimeout = 2 * time.Minute

// Env is one private SoftHSM2 configuration: a softhsm2.conf and the token
// directory it names.
type Env struct {
	Dir      string // the directory given to NewEnv
	ConfPath string // Dir/softhsm2.conf
	TokenDir string // Dir/tokens
	Module   string // path of libsofthsm2.so

	mu sync.Mutex // serialises token creation, deletion, unplug, replug
}

// ConfTemplate is the softhsm2.conf written by NewEnv; %s is the token
// directory.
const ConfTemplate = `# SoftHSM v2 configuration for Signet tests and demo (written by softhsmtest).
directories.tokendir = %s
objectstore.backend = file
log.level = ERROR
slots.removable = true
slots.mechanisms = ALL
`

// Module returns the SoftHSM2 module path: $SIGNET_SOFTHSM_MODULE if set,
// else DefaultModule, else the first of a few other usual places that exists.
func Module() string {
	if m := os.Getenv(ModuleEnvVar); m != "" {
		return m
	}
	for _, m := range []string{
		DefaultModule,
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so",
		"/opt/homebrew/lib/softhsm/libsofthsm2.so",
		"/usr/local/opt/softhsm/lib/softhsm/libsofthsm2.so",
	} {
		if _, err := os.Stat(m); err == nil {
			return m
		}
	}
	return DefaultModule
}

// NewEnv writes dir/softhsm2.conf (token directory dir/tokens, file object
// store, log level ERROR, removable slots) and creates the token directory.
// An existing softhsm2.conf is overwritten; existing tokens are kept.
func NewEnv(dir string) (*Env, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("softhsm env %q: %w", dir, err)
	}
	e := &Env{
		Dir:      abs,
		ConfPath: filepath.Join(abs, "softhsm2.conf"),
		TokenDir: filepath.Join(abs, "tokens"),
		Module:   Module(),
	}
	if err := os.MkdirAll(e.TokenDir, 0o700); err != nil {
		return nil, fmt.Errorf("softhsm env: create token dir: %w", err)
	}
	conf := fmt.Sprintf(ConfTemplate, e.TokenDir)
	if err := os.WriteFile(e.ConfPath, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm env: write %s: %w", e.ConfPath, err)
	}
	return e, nil
}

// Environ returns os.Environ() with SOFTHSM2_CONF set to this Env's file.
func (e *Env) Environ() []string {
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SOFTHSM2_CONF=") {
			env = append(env, kv)
		}
	}
	return append(env, "SOFTHSM2_CONF="+e.ConfPath)
}

// Command returns an exec.Cmd for name with SOFTHSM2_CONF set to this Env.
func (e *Env) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = e.Environ()
	return cmd
}

// run runs a tool under this Env and returns its standard output. what
// describes the operation for error messages; the arguments are never put in
// an error (they may hold PINs).
func (e *Env) run(what string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := e.Command(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return stdout.Bytes(), fmt.Errorf("%s: %s: %w: %s", what, name, err, msg)
	}
	return stdout.Bytes(), nil
}

var (
	sharedMu  sync.Mutex
	sharedEnv *Env
)

// Main is for TestMain. It creates a temporary directory with a private
// softhsm2.conf and token directory, sets SOFTHSM2_CONF for the whole
// process (SoftHSM reads it once, at C_Initialize), runs the tests, removes
// the directory and exits with the tests' code. Shared returns the Env.
func Main(m *testing.M) {
	os.Exit(runMain(m, nil))
}

// MainSetup is Main with a setup step that runs once SOFTHSM2_CONF is set
// and before any test. Create there the tokens that tests which initialise
// the module at different times all need: SoftHSM does not see a token
// created after the process initialised the module. A setup error fails the
// run before any test starts.
func MainSetup(m *testing.M, setup func(env *Env) error) {
	os.Exit(runMain(m, setup))
}

func runMain(m *testing.M, setup func(env *Env) error) int {
	dir, err := os.MkdirTemp("", "softhsmtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "softhsmtest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	env, err := NewEnv(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "softhsmtest:", err)
		return 1
	}
	if err := os.Setenv("SOFTHSM2_CONF", env.ConfPath); err != nil {
		fmt.Fprintln(os.Stderr, "softhsmtest:", err)
		return 1
	}
	sharedMu.Lock()
	sharedEnv = env
	sharedMu.Unlock()
	if setup != nil {
		if err := setup(env); err != nil {
			fmt.Fprintln(os.Stderr, "softhsmtest: setup:", err)
			return 1
		}
	}
	return m.Run()
}

// Shared returns the Env set up by Main. It panics when Main has not run:
// call softhsmtest.Main(m) from the package's TestMain.
func Shared() *Env {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedEnv == nil {
		panic("softhsmtest: Shared called without softhsmtest.Main in TestMain")
	}
	return sharedEnv
}

// CheckTools reports an error naming the first missing tool or module
// (softhsm2-util, pkcs11-tool, the SoftHSM module).
func (e *Env) CheckTools() error {
	var errs []error
	for _, tool := range []string{"softhsm2-util", "pkcs11-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			errs = append(errs, fmt.Errorf("%s not found (install softhsm2 and opensc; `make deps`)", tool))
		}
	}
	if _, err := os.Stat(e.Module); err != nil {
		errs = append(errs, fmt.Errorf("SoftHSM module %s: %w (set %s)", e.Module, err, ModuleEnvVar))
	}
	return errors.Join(errs...)
}

// LoadEnv returns the Env of an existing dir/softhsm2.conf (written by
// NewEnv or create-token.sh) without rewriting it. The token directory is
// read from the file's directories.tokendir line.
func LoadEnv(dir string) (*Env, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("softhsm env %q: %w", dir, err)
	}
	conf := filepath.Join(abs, "softhsm2.conf")
	data, err := os.ReadFile(conf)
	if err != nil {
		return nil, fmt.Errorf("softhsm env: %w", err)
	}
	var tokenDir string
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "directories.tokendir" {
			tokenDir = strings.TrimSpace(v)
		}
	}
	if tokenDir == "" {
		return nil, fmt.Errorf("softhsm env: %s has no directories.tokendir", conf)
	}
	return &Env{Dir: abs, ConfPath: conf, TokenDir: tokenDir, Module: Module()}, nil
}
