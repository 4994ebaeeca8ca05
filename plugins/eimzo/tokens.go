package eimzo

import (
	"strings"
)

// tokenKey resolves a pseudo-id (ckc, idcard, baikey) to a key on a
// PKCS#11 token for this call.
func (s *Server) tokenKey(c *call, pseudo string) (*handle, error) {
	keys, err := s.keys.Keys(c.ctx, c.op("choose a token key"))
	if err != nil && len(keys) == 0 {
		return nil, err
	}
	var found []*handle
	for _, k := range keys {
		if strings.HasPrefix(k.URI, "pkcs11:") && k.HasPrivateKey && k.Certificate != nil {
			found = append(found, &handle{Type: pseudoIDs[pseudo], Domain: c.sess.domain, Key: k})
		}
	}
	if len(found) == 0 {
		return nil, fail(StatusInsertDisk)
	}
	return found[0], nil
}
