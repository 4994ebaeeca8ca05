package doctor

import (
	"context"
	"fmt"
	"time"

	"github.com/signet-agent/signet/hsm"
)

// soonExpiry is how early a certificate's end is announced.
const soonExpiry = 30 * 24 * time.Hour

// checkKeys runs the PKCS#11 checks and checks the certificate of every
// key found on a token or in a PFX file: expired, not yet valid, or near
// its end.
func checkKeys(ctx context.Context, env Env) []Finding {
	keys, out := checkModules(ctx, env)
	ks := env.Config.Keystore
	if len(ks.PFXDirs)+len(ks.PFXFiles) > 0 || ks.EIMZO {
		ks.Modules = nil
		if store, err := env.OpenKeys(ks); err == nil {
			lctx, cancel := context.WithTimeout(ctx, env.Timeout)
			k, _ := store.Keys(lctx)
			cancel()
			keys = append(keys, k...)
			store.Close()
		}
	}
	return append(out, checkCertificates(env.Now(), keys)...)
}

func checkCertificates(now time.Time, keys []hsm.KeyInfo) []Finding {
	var out []Finding
	for _, k := range keys {
		c := k.Certificate
		if c == nil || !k.HasPrivateKey {
			continue
		}
		who := c.Subject.CommonName
		f := Finding{Check: "certificate", Status: OK,
			personal: []string{k.URI, k.Label, who, c.Subject.String(), c.SerialNumber.String(), fmt.Sprintf("%X", c.SerialNumber)}}
		name := fmt.Sprintf("the certificate of %q (%s, key %s)", who, c.Subject.String(), k.URI)
		switch {
		case now.After(c.NotAfter):
			f.Status = Fail
			f.Summary = fmt.Sprintf("%s expired on %s: portals refuse its signatures", name, c.NotAfter.Format("2006-01-02"))
			f.Fix = "get a new certificate from its issuer (" + c.Issuer.CommonName + ") and import it (`signet import-cert`), or use another key"
		case now.Before(c.NotBefore):
			f.Status = Fail
			f.Summary = fmt.Sprintf("%s is valid only from %s", name, c.NotBefore.Format("2006-01-02"))
			f.Fix = "wait until then, or check the clock"
		case c.NotAfter.Sub(now) < soonExpiry:
			f.Status = Warn
			f.Summary = fmt.Sprintf("%s ends on %s", name, c.NotAfter.Format("2006-01-02"))
			f.Fix = "ask its issuer (" + c.Issuer.CommonName + ") for a new one before then"
		default:
			f.Summary = fmt.Sprintf("%s is valid until %s", name, c.NotAfter.Format("2006-01-02"))
		}
		out = append(out, f)
	}
	return out
}
