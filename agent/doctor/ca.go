package doctor

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/signet-agent/signet/agent/localca"
)

// checkCA: the local CA exists, is within its validity and its name
// constraints are the ones the agent sets. It returns the CA's
// certificate (nil when there is none) for the trust and clock checks.
func checkCA(env Env) (*x509.Certificate, []Finding) {
	dir := localca.Dir(env.Config.DataDir)
	ca, err := localca.Load(dir, localca.Options{})
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, []Finding{{Check: "ca", Status: Info,
			Summary: "no local CA yet in " + dir + ": the agent creates it when it first starts",
			Fix:     "start the agent (`systemctl --user start signet`), then run `signet trust install` once"}}
	case err != nil:
		return nil, []Finding{{Check: "ca", Status: Fail,
			Summary: "the local CA in " + dir + " cannot be read: " + err.Error(),
			Fix:     "move " + dir + " aside and restart the agent, which creates a new CA; then `signet trust install`"}}
	}
	cert := ca.Certificate()
	now := env.Now()
	f := Finding{Check: "ca", Status: OK}
	switch {
	case now.After(cert.NotAfter):
		f.Status = Fail
		f.Summary = fmt.Sprintf("the local CA expired on %s: browsers refuse the agent's pages", cert.NotAfter.Format("2006-01-02"))
		f.Fix = "restart the agent (it replaces an expired CA), then run `signet trust install`"
	case now.Before(cert.NotBefore):
		f.Status = Fail
		f.Summary = fmt.Sprintf("the local CA is valid only from %s, after this computer's clock", cert.NotBefore.Format("2006-01-02 15:04"))
		f.Fix = "set the clock right (see the clock finding)"
	default:
		f.Summary = fmt.Sprintf("local CA present, valid until %s, limited to: %s", cert.NotAfter.Format("2006-01-02"), localca.Constraints(cert))
	}
	return cert, []Finding{f}
}
