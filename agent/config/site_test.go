package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSite(t *testing.T) {
	for origin, want := range map[string]string{
		"https://a.b.example.com:8443": "example.com",
		"https://example.com":          "example.com",
		"http://s7.evil.example":       "evil.example",
		"https://x.shop.co.uk":         "shop.co.uk",
		"https://a.github.io":          "a.github.io", // a private suffix: each name is its own site
		"https://127.0.0.1:9091":       "https://127.0.0.1:9091",
		"http://[::1]:80":              "http://[::1]:80",
		"http://localhost:8080":        "http://localhost:8080",
		"https://co.uk":                "https://co.uk",
		"null":                         "null",
		"":                             "",
		"garbage":                      "garbage",
	} {
		assert.Equal(t, want, Site(origin), origin)
	}
}
