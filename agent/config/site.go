package config

import (
	"net"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Site returns the registrable domain (eTLD+1, from the public suffix
// list) of a web origin's host — "example.com" for
// "https://a.b.example.com:8443" — so that the sub-domains of one site,
// which one party controls, can be treated as one. For an origin without a
// registrable domain (an IP address, localhost, a public suffix itself,
// "null", anything malformed) it returns the origin unchanged.
func Site(origin string) string {
	_, host, _, err := ParseOrigin(origin)
	if err != nil || net.ParseIP(host) != nil || host == "localhost" {
		return origin
	}
	site, err := publicsuffix.EffectiveTLDPlusOne(strings.TrimSuffix(host, "."))
	if err != nil || site == "" {
		return origin
	}
	return site
}
