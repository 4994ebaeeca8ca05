package cms

import (
	"testing"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// TestMain gives the whole test binary one SoftHSM2 configuration and token
// directory (SOFTHSM2_CONF is read once per process, at C_Initialize).
func TestMain(m *testing.M) { softhsmtest.Main(m) }
