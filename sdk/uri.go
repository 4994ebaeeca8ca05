package sdk

import "github.com/signet-agent/signet/hsm/pfx"

// ParseFileKeyURI splits the URI of a key in a PFX/PKCS#12 file
// ("file:///home/me/key.pfx#alias", as Key.URI and Token.URI give it) into
// the file's absolute path and the entry alias ("" when the URI names the
// file only). Percent-encoding is decoded, so the same key always gives
// the same path and alias. A URI that is not a local file: URI with an
// absolute path gives an error matching ErrInvalidURI.
func ParseFileKeyURI(uri string) (path, alias string, err error) {
	return pfx.ParseURI(uri)
}
