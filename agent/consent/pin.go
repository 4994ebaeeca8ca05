package consent

import (
	"context"
	"fmt"
	"strings"

	"github.com/signet-agent/signet/agent/prompt"
	"github.com/signet-agent/signet/hsm"
)

// PINPrompt returns the prompt the key store uses: a token named by one of
// the configuration's PIN sources (policy.unattended.pin_sources: file or
// environment variable) gets its PIN from there without asking; any other
// PIN or password is asked in the Prompter's dialog. Without a Prompter,
// such a request is cancelled. The PIN is handed to the key store and
// never logged or journaled.
func (e *Engine) PINPrompt() hsm.PINPrompt {
	return func(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
		// The policy in force now: a reload's PIN sources apply at once.
		for _, s := range e.policy().policy.Unattended.PINSources {
			if !TokenURIMatcher(s.Token)(req.Token.URI) {
				continue
			}
			switch {
			case s.File != "":
				return prompt.FromFile(s.File)(ctx, req)
			case s.Env != "":
				return prompt.FromEnv(s.Env)(ctx, req)
			}
		}
		if e.cfg.Prompter == nil {
			return hsm.PINResponse{}, fmt.Errorf("%s for %s: no PIN source configured and no one to ask: %w", req.Kind, req.Token.Label, hsm.ErrCancelled)
		}
		return e.cfg.Prompter.PIN(ctx, req)
	}
}

// TokenURIMatcher matches a configured token URI against a token's URI: for
// pkcs11: URIs every attribute of the pattern must appear in the token's
// URI; other URIs must be equal.
func TokenURIMatcher(pattern string) func(string) bool {
	if !strings.HasPrefix(pattern, "pkcs11:") {
		return func(uri string) bool { return uri == pattern }
	}
	want := strings.Split(strings.TrimPrefix(pattern, "pkcs11:"), ";")
	return func(uri string) bool {
		if !strings.HasPrefix(uri, "pkcs11:") {
			return false
		}
		path, _, _ := strings.Cut(strings.TrimPrefix(uri, "pkcs11:"), "?")
		have := map[string]bool{}
		for _, a := range strings.Split(path, ";") {
			have[a] = true
		}
		for _, w := range want {
			if w != "" && !have[w] {
				return false
			}
		}
		return true
	}
}
