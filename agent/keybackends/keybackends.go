// Package keybackends opens the key backends the configuration names and
// combines them into the hsm.Store the CLI and the agent use: one PKCS#11
// backend per module (the configured ones, or the well-known modules found
// on this machine) plus one PFX backend over the configured files,
// directories and, when asked, the E-IMZO disk layout. A module that fails
// to load does not stop the others: Open returns the store with every
// backend that loaded, together with an error naming each that did not.
// The store owns its backends; closing it forgets cached PINs and unlocked
// keys.
//
//	store, err := keybackends.Open(keybackends.Config{
//		Modules: []string{"/usr/lib/softhsm/libsofthsm2.so"},
//		PFXDirs: []string{"/home/me/keys"},
//	}, pinPrompt)
//	if err != nil {
//		log.Print(err) // some backends did not load; store serves the others
//	}
//	defer store.Close()
package keybackends

import (
	"errors"
	"fmt"
	"time"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/dstukey"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/hsm/pkcs11"
)

// Config says where keys are.
type Config struct {
	// Modules are PKCS#11 library paths. Empty means the well-known modules
	// present on this machine (pkcs11.Probe). NoProbe with no Modules
	// disables PKCS#11.
	Modules []string
	NoProbe bool
	// PFXDirs are scanned for *.pfx and *.p12; PFXFiles are single files.
	PFXDirs  []string
	PFXFiles []string
	// EIMZO scans every disk root and its DSKEYS folder for key files.
	EIMZO bool
	// EIMZORoots overrides the disk roots (tests); nil means the defaults.
	EIMZORoots func() []string
	// MaxSessions caps the sessions per token (0: the backend's default).
	MaxSessions int
	// LoginIdleTimeout drops a login or unlocked PFX key after this long
	// without use; zero keeps it until the token goes or the store closes.
	LoginIdleTimeout time.Duration
}

// Open builds the store. prompt asks for token PINs and PFX passwords (it
// sees the kind in PINRequest.Kind). The returned store is never nil; err
// names every module that failed to load.
func Open(cfg Config, prompt hsm.PINPrompt) (*hsm.Store, error) {
	store := hsm.NewStore()
	login := hsm.LoginPolicy{IdleTimeout: cfg.LoginIdleTimeout}
	modules := cfg.Modules
	if len(modules) == 0 && !cfg.NoProbe {
		modules = pkcs11.Probe()
	}
	var errs []error
	seen := map[string]bool{}
	for _, m := range modules {
		if seen[m] {
			continue
		}
		seen[m] = true
		b, err := pkcs11.Open(pkcs11.Config{
			Module:      m,
			PINPrompt:   prompt,
			MaxSessions: cfg.MaxSessions,
			Login:       login,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("PKCS#11 module %s: %w", m, err))
			continue
		}
		store.Add(b)
	}
	if len(cfg.PFXDirs) > 0 { // Ukrainian DSTU 4145 containers beside the PFX files; first, so that it serves the DSTU PKCS#12 files
		b, err := dstukey.Open(dstukey.Config{Dirs: cfg.PFXDirs, PasswordPrompt: prompt, Login: login})
		if err != nil {
			errs = append(errs, fmt.Errorf("DSTU key containers: %w", err))
		} else {
			store.Add(b)
		}
	}
	if len(cfg.PFXDirs) > 0 || len(cfg.PFXFiles) > 0 || cfg.EIMZO {
		b, err := pfx.Open(pfx.Config{
			Dirs:           cfg.PFXDirs,
			Files:          cfg.PFXFiles,
			EIMZO:          cfg.EIMZO,
			EIMZORoots:     cfg.EIMZORoots,
			PasswordPrompt: prompt,
			Login:          login,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("PFX files: %w", err))
		} else {
			store.Add(b)
		}
	}
	return store, errors.Join(errs...)
}
