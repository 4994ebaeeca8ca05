package pfx

import (
	"io"
	"os"

	"github.com/signet-agent/signet/sdk/dstu"
)

// isDSTUFile reports whether path is a PKCS#12 file with a Ukrainian DSTU
// 4145 key under the GOST PBES2 scheme. Such files are served by
// hsm/dstukey, so a directory scan leaves them out.
func isDSTUFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, dstu.MaxContainer+1))
	return err == nil && dstu.IsPKCS12(data)
}
