package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/keybackends"
	"github.com/signet-agent/signet/hsm"
)

// openKeys opens a key store as the agent does, but asks for no PIN or
// password: the doctor only lists.
func openKeys(ks config.Keystore) (*hsm.Store, error) {
	return keybackends.Open(keybackends.Config{
		Modules: ks.Modules, NoProbe: true, PFXDirs: ks.PFXDirs, PFXFiles: ks.PFXFiles, EIMZO: ks.EIMZO,
	}, func(context.Context, hsm.PINRequest) (hsm.PINResponse, error) {
		return hsm.PINResponse{}, hsm.ErrCancelled
	})
}

// checkModules: each configured PKCS#11 module is found and loads, a token
// is present, and each token's PIN is neither locked nor on its last tries.
// The keys of the tokens found go to the certificate check.
func checkModules(ctx context.Context, env Env) ([]hsm.KeyInfo, []Finding) {
	mods := env.Config.Keystore.Modules
	if len(mods) == 0 {
		return nil, []Finding{{Check: "pkcs11", Status: Info, Summary: "no PKCS#11 module configured: tokens and smart cards are not used",
			Fix: "to use one, add its module to keystore.pkcs11_modules (OpenSC: opensc-pkcs11.so)"}}
	}
	var keys []hsm.KeyInfo
	var out []Finding
	for _, m := range mods {
		if strings.Contains(m, "/") {
			if _, err := os.Stat(m); err != nil {
				out = append(out, Finding{Check: "pkcs11", Status: Fail,
					Summary: "PKCS#11 module " + m + " not found: its tokens cannot be used",
					Fix:     "install the token's driver package (OpenSC: `apt install opensc-pkcs11`), or correct the path in keystore.pkcs11_modules"})
				continue
			}
		}
		ks := config.Keystore{Modules: []string{m}}
		store, err := env.OpenKeys(ks)
		if err != nil || len(store.Backends()) == 0 {
			if store != nil {
				store.Close()
			}
			out = append(out, Finding{Check: "pkcs11", Status: Fail,
				Summary: fmt.Sprintf("PKCS#11 module %s cannot be loaded: %v", m, err),
				Fix:     "install the token's driver package (OpenSC: `apt install opensc-pkcs11`), or correct keystore.pkcs11_modules"})
			continue
		}
		fs, ks2 := checkTokens(ctx, env, m, store)
		out = append(out, fs...)
		keys = append(keys, ks2...)
		store.Close()
	}
	return keys, out
}

func checkTokens(ctx context.Context, env Env, module string, store *hsm.Store) ([]Finding, []hsm.KeyInfo) {
	ctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	toks, err := store.Tokens(ctx)
	if err != nil {
		return []Finding{{Check: "pkcs11", Status: Fail, Summary: fmt.Sprintf("PKCS#11 module %s loaded, but listing its tokens failed: %v", module, err),
			Fix: "is the card reader service running? `systemctl status pcscd`"}}, nil
	}
	out := []Finding{{Check: "pkcs11", Status: OK, Summary: fmt.Sprintf("PKCS#11 module %s loads (%d tokens)", module, len(toks))}}
	if len(toks) == 0 {
		out[0].Status = Warn
		out[0].Summary = fmt.Sprintf("PKCS#11 module %s loads, but no token is present", module)
		out[0].Fix = "insert the token or card; for a card reader, check that `pcscd` runs"
	}
	for _, t := range toks {
		f := Finding{Check: "token", Status: OK, personal: []string{t.Label, t.Serial, t.URI}}
		name := fmt.Sprintf("token %q (serial %s)", t.Label, t.Serial)
		pin := t.Flags.PIN
		switch {
		case pin.Locked:
			f.Status, f.Summary = Fail, name+": the PIN is locked; nothing can be signed with it"
			f.Fix = "unblock the PIN with the token's PUK or SO PIN (the token's own tool, or `pkcs11-tool --unlock-pin`), or ask the issuer"
		case pin.FinalTry:
			f.Status, f.Summary = Fail, name+": one more wrong PIN locks it"
			f.Fix = "enter the PIN with care; if unsure, unblock it with the PUK first"
		case pin.CountLow:
			f.Status, f.Summary = Warn, name+": a wrong PIN was entered since the last right one"
			f.Fix = "enter the right PIN once to reset the count"
		default:
			f.Summary = name + ": present, PIN not locked"
		}
		out = append(out, f)
	}
	keys, err := store.Keys(ctx)
	if err != nil && !errors.Is(err, hsm.ErrCancelled) {
		out = append(out, Finding{Check: "pkcs11", Status: Warn, Summary: fmt.Sprintf("listing keys of %s: %v", module, err)})
	}
	return out, keys
}
