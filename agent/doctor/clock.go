package doctor

import (
	"crypto/x509"
	"fmt"
	"time"
)

// minSaneTime is earlier than any Signet build: a clock before it is wrong.
var minSaneTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// checkClock: the clock is plausible. Certificate validity (the person's
// signing certificates, the local CA, the portals' TLS) is judged by it,
// so a wrong clock makes valid certificates look expired or not yet valid.
func checkClock(env Env, ca *x509.Certificate) Finding {
	now := env.Now()
	f := Finding{Check: "clock", Status: OK, Summary: "the clock reads " + now.UTC().Format(time.RFC3339)}
	switch {
	case now.Before(minSaneTime):
		f.Status = Fail
		f.Summary = fmt.Sprintf("the clock reads %s, before this version of Signet existed", now.UTC().Format(time.RFC3339))
	case ca != nil && now.Before(ca.NotBefore.Add(-time.Hour)):
		f.Status = Fail
		f.Summary = fmt.Sprintf("the clock reads %s, before the local CA was created (%s): it went back", now.UTC().Format(time.RFC3339), ca.NotBefore.UTC().Format(time.RFC3339))
	default:
		return f
	}
	f.Fix = "set the date and time right, e.g. turn on network time: `timedatectl set-ntp true`"
	return f
}
