package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/signet-agent/signet/agent/internal/pluginenv"
	"github.com/signet-agent/signet/internal/profiling"
	"github.com/signet-agent/signet/internal/wire"
)

// How the host starts a plugin process: with an environment of its own
// (never the agent's, which holds PINs and passwords), only from an
// executable nobody but the agent's user or root can change, and — when
// the configuration pins its SHA-256 — from the very bytes that were
// hashed.

// ErrUntrustedPlugin is returned (wrapped, with the file and the reason)
// for a plugin executable that someone other than the agent's user or
// root could change: the file or its directory is owned by another user,
// or writable by group or others.
var ErrUntrustedPlugin = errors.New("plugin executable is not protected from other users")

// ErrPinMismatch is returned (wrapped) when a plugin executable's SHA-256
// is not the one pinned in the configuration.
var ErrPinMismatch = errors.New("plugin executable does not match its sha256 pin")

// pinMismatch is ErrPinMismatch carrying the executable's actual SHA-256,
// which the administrator needs to update the pin.
type pinMismatch struct{ got []byte }

func (e *pinMismatch) Error() string { return ErrPinMismatch.Error() }
func (e *pinMismatch) Unwrap() error { return ErrPinMismatch }

// matchPin compares the SHA-256 of the executable, got, with the pinned
// one; a mismatch is a *pinMismatch.
func matchPin(got, pinned []byte) error {
	if bytes.Equal(got, pinned) {
		return nil
	}
	return &pinMismatch{got: got}
}

// maxPluginSize bounds the executable read into memory for a pinned
// plugin.
const maxPluginSize = 512 << 20

// parsePin decodes a configured sha256 pin (hex, optionally "sha256:").
func parsePin(pin string) ([]byte, error) {
	sum, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(pin), "sha256:"))
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("sha256 pin %q is not 64 hex digits", pin)
	}
	return sum, nil
}

// pluginCommand returns the command that starts the plugin of spec: the
// executable checked with checkExecutable, the entries of environ a plugin
// inherits (pluginenv) plus the lifeline, which becomes fd 3; for a pinned
// plugin the executable is read once, checked against the pin, and run
// from those bytes (execPinned). Args[0] is always the configured path,
// for messages and ps. cleanup releases what the command held; call it
// once the process has started (or failed to).
//
// Errors that a restart cannot fix are permanentError.
func pluginCommand(spec PluginSpec, environ []string, lifeline *os.File) (cmd *exec.Cmd, cleanup func(), err error) {
	if err := checkExecutable(spec.Path); err != nil {
		if errors.Is(err, ErrUntrustedPlugin) {
			return nil, nil, permanentError{fmt.Errorf("plugin %s refused: %w", spec.Name, err)}
		}
		return nil, nil, fmt.Errorf("plugin %s: %w", spec.Name, err)
	}
	cmd = &exec.Cmd{Path: spec.Path, Args: []string{spec.Path}}
	// The agent's environment holds PINs and passwords (SIGNET_PIN, the
	// variables PIN sources read): the plugin gets only what pluginenv
	// allows, go-plugin's handshake variables and the lifeline.
	cmd.Env = append(pluginenv.Filter(environ), fmt.Sprintf("%s=%d", wire.EnvLifeline, 3))
	if dir := lookupEnv(environ, profiling.EnvDir); dir != "" {
		// A directory name for CPU profiles (benchmarks), never a secret.
		cmd.Env = append(cmd.Env, profiling.EnvDir+"="+dir)
	}
	cmd.ExtraFiles = []*os.File{lifeline}
	cmd.SysProcAttr = sysProcAttr()
	if spec.SHA256 == "" {
		return cmd, func() {}, nil
	}
	sum, err := parsePin(spec.SHA256)
	if err != nil {
		return nil, nil, permanentError{fmt.Errorf("plugin %s: %w", spec.Name, err)}
	}
	cleanup, err = execPinned(cmd, spec.Path, sum)
	var mismatch *pinMismatch
	switch {
	case errors.As(err, &mismatch):
		return nil, nil, permanentError{fmt.Errorf("plugin %s refused: the SHA-256 of %s does not match the sha256 pinned in the configuration: the file's is %x, the pin is %x (if this file is a release you trust, pin the file's): %w",
			spec.Name, spec.Path, mismatch.got, sum, ErrPinMismatch)}
	case err != nil:
		return nil, nil, fmt.Errorf("plugin %s: %w", spec.Name, err)
	}
	return cmd, cleanup, nil
}

// lookupEnv returns the value of name in environ ("NAME=value"), the last
// one when it is set more than once, or "".
func lookupEnv(environ []string, name string) string {
	v := ""
	for _, kv := range environ {
		if n, val, ok := strings.Cut(kv, "="); ok && n == name {
			v = val
		}
	}
	return v
}
