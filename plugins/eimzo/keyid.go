package eimzo

// Pseudo key ids E-IMZO accepts wherever a keyId is expected: the
// person picks a token key in the host's dialog.
var pseudoIDs = map[string]string{
	"ckc":    TypeCKC,
	"idcard": TypeIDCard,
	"baikey": TypeBAIK,
	"uzgrd":  TypeCKC,
}

// keyFor resolves a keyId argument: a handle from load_key or
// generate_keypair of the caller's domain, or a pseudo-id resolved by
// tokenKey. An unknown or expired id is -1010.
func (s *Server) keyFor(c *call, id string) (*handle, error) {
	if _, ok := pseudoIDs[id]; ok {
		return s.tokenKey(c, id)
	}
	h, ok := s.handles.get(c.sess.domain, id)
	if !ok {
		return nil, fail(StatusKeyIDNotFound)
	}
	if h.Type == TypePFX && h.Key.Certificate == nil {
		// A file whose certificates are encrypted: unlock it first.
		return s.pfxUnlock(c, h)
	}
	return h, nil
}
