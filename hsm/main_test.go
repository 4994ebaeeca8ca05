package hsm_test

import (
	"testing"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// fixtures are the tokens this package's tests share, by label. They are
// created before any test runs, because SoftHSM does not see a token created
// after the process initialised the module.
var fixtures = map[string]*softhsmtest.Fixture{}

func TestMain(m *testing.M) {
	softhsmtest.MainSetup(m, func(env *softhsmtest.Env) error {
		for _, label := range []string{"csr", "store"} {
			fx, err := softhsmtest.NewFixture(env, label, softhsmtest.DefaultUserPIN, softhsmtest.DefaultSOPIN, softhsmtest.StandardKeys)
			if err != nil {
				return err
			}
			fixtures[label] = fx
		}
		return nil
	})
}
