package doctor

import (
	"crypto/x509"
	"fmt"

	"github.com/signet-agent/signet/agent/trust"
)

// checkTrust: the system store and each browser NSS database found trust
// the local CA. Without it, browsers refuse the wss:// and https:// pages
// of the plugins and the consent dialog.
func checkTrust(env Env, ca *x509.Certificate) []Finding {
	if ca == nil {
		return nil
	}
	stores, err := env.TrustStores()
	var out []Finding
	if err != nil {
		out = append(out, Finding{Check: "trust", Status: Warn, Summary: "trust stores: " + err.Error(),
			Fix: "browsers that read that store will not trust the agent; `signet trust status` lists the stores found"})
	}
	for _, st := range trust.StatusAll(stores, ca) {
		f := Finding{Check: "trust"}
		if st.Trusted {
			f.Status, f.Summary = OK, fmt.Sprintf("%s trusts the local CA (%s)", st.Store, st.Location)
		} else {
			f.Status = Fail
			f.Summary = fmt.Sprintf("%s does not trust the local CA (%s): %s; pages there cannot reach the agent", st.Store, st.Location, st.Detail)
			f.Fix = "run `signet trust install` (it shows the CA's name constraints first)"
		}
		out = append(out, f)
	}
	return out
}
