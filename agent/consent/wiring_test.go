package consent_test

import (
	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/agent/host"
)

// The host journals outcomes through host.Recorder; the Engine must keep
// implementing it, and Asker.
var (
	_ host.Recorder    = (*consent.Engine)(nil)
	_ consent.Asker    = (*consent.Engine)(nil)
	_ consent.Prompter = (*consent.Terminal)(nil)
)
