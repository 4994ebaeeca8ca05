package doctor

import (
	"errors"
	"fmt"
	"os"
)

// checkPFXDirs: each configured PFX directory and file can be read.
func checkPFXDirs(env Env) []Finding {
	var out []Finding
	for _, d := range env.Config.Keystore.PFXDirs {
		f := Finding{Check: "pfx"}
		entries, err := os.ReadDir(d)
		switch {
		case errors.Is(err, os.ErrNotExist):
			f.Status, f.Summary = Warn, "PFX directory "+d+" does not exist: no key files from there"
			f.Fix = "create it and put your .pfx/.p12 files there, or remove it from keystore.pfx_dirs"
		case err != nil:
			f.Status, f.Summary = Fail, "PFX directory "+d+" cannot be read: "+err.Error()
			f.Fix = "give your user read access: `chmod u+rx " + d + "`"
		default:
			f.Status, f.Summary = OK, fmt.Sprintf("PFX directory %s readable (%d entries)", d, len(entries))
		}
		out = append(out, f)
	}
	for _, p := range env.Config.Keystore.PFXFiles {
		f := Finding{Check: "pfx"}
		fh, err := os.Open(p)
		if err != nil {
			f.Status, f.Summary = Fail, "PFX file "+p+" cannot be read: "+err.Error()
			f.Fix = "check the path in keystore.pfx_files and that your user can read the file"
		} else {
			fh.Close()
			f.Status, f.Summary = OK, "PFX file "+p+" readable"
		}
		out = append(out, f)
	}
	return out
}
