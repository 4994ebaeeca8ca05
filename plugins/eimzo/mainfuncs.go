package eimzo

import (
	"strings"
)

// The E-IMZO version Signet reports. Clients gate features on
// major*100+minor (≥ 4.86 unlocks every current flow; Didox wants ≥ 6.3.5),
// so Signet reports the current 6.x release it is compatible with.
const (
	VersionMajor   = "6"
	VersionMinor   = "4"
	VersionPatch   = "7"
	VersionEdition = "Standard"
)

func init() {
	register(
		&function{Name: "version", Gate: gateNone, Run: (*Server).version,
			Description: "Версия E-IMZO (Signet, совместимый модуль)"},
		&function{Name: "apidoc", Gate: gateNone, Description: "Описание функций API"},
		&function{Name: "apikey", Gate: gateNone, Variadic: true, Run: (*Server).apikey,
			Description: "Зарегистрировать API-ключи доменов: пары домен, ключ",
			Args:        []arg{{Name: "domain", Description: "Домен"}, {Name: "key", Description: "API-ключ домена"}}},
	)
}

// version reports the E-IMZO version Signet is compatible with.
func (s *Server) version(*call) (Reply, error) {
	return Reply{"major": VersionMajor, "minor": VersionMinor, "patch": VersionPatch, "edition": VersionEdition}, nil
}

// MaxAPIKeyPairs bounds the domain/key pairs one apikey call may carry.
const MaxAPIKeyPairs = 32

// apikey registers vendor API keys: [domain1, key1, domain2, key2, …]. A
// key is valid when it is the vendor's GOST R 34.10-2001 signature over
// the domain (verifyAPIKey). A valid key does not by itself authorise the
// domain in Signet — the host's origin policy does — but it is recorded
// and shown to the person as evidence when the domain asks. Any invalid
// pair fails the call with -1020, as E-IMZO does.
func (s *Server) apikey(c *call) (Reply, error) {
	if len(c.args) < 2 || len(c.args)%2 != 0 || len(c.args) > 2*MaxAPIKeyPairs {
		return nil, fail(StatusNotFound)
	}
	valid := map[string]string{}
	for i := 0; i < len(c.args); i += 2 {
		domain, key := strings.ToLower(strings.TrimSpace(c.args[i])), strings.TrimSpace(c.args[i+1])
		if !verifyAPIKey(domain, key) {
			return nil, fail(StatusBadAPIKey, c.args[i])
		}
		valid[domain] = strings.ToUpper(key)
	}
	s.mu.Lock()
	for d, k := range valid {
		s.apiKeys[d] = k
	}
	s.mu.Unlock()
	msg := c.sess.origin
	if msg == "" {
		msg = "null"
	}
	return Reply{"message": msg}, nil
}
