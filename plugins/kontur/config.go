package kontur

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the server mode's configuration file (the plugin's "config"
// option names it). It holds no secret itself: the database address may
// name a file, API keys are stored as SHA-256 hashes.
type Config struct {
	Database struct {
		// DSN is a PostgreSQL address without a password (peer or
		// certificate authentication), or DSNFile a 0600 file holding one.
		DSN     string `yaml:"dsn"`
		DSNFile string `yaml:"dsn_file"`
	} `yaml:"database"`
	// Replica names this process in leases and journal records (default:
	// host name and process id).
	Replica string `yaml:"replica"`
	// PublicURL is the base of links in replies (default: the request's
	// scheme and Host).
	PublicURL string `yaml:"public_url"`
	Limits    struct {
		MaxDocumentMB int `yaml:"max_document_mb"` // per document, default 16
		MaxDocuments  int `yaml:"max_documents"`   // per target, default 32
	} `yaml:"limits"`
	Codes struct {
		TTL      time.Duration `yaml:"ttl"`      // default 5m
		Attempts int           `yaml:"attempts"` // wrong codes before the request dies, default 3
	} `yaml:"codes"`
	// Lease bounds how long a replica may run one task before another
	// replica fails it as interrupted (default 1m); Sweep is how often
	// each replica looks (default 5s).
	Lease time.Duration `yaml:"lease"`
	Sweep time.Duration `yaml:"sweep"`
	// TestTools enables GET /test-tools/v1/get-cloud-sign-confirmation-code
	// (and keeps codes in clear for it): test installations only.
	TestTools bool           `yaml:"test_tools"`
	Notifier  NotifierConfig `yaml:"notifier"`
	Auth      struct {
		OIDC *OIDCConfig `yaml:"oidc"`
	} `yaml:"auth"`
	Accounts []Account `yaml:"accounts"`
}

// NotifierConfig configures code delivery: a webhook to the organisation's SMS
// or mail gateway, or (tests) a file that gets one JSON line per code.
type NotifierConfig struct {
	Webhook *struct {
		URL       string        `yaml:"url"`
		TokenFile string        `yaml:"token_file"` // bearer token for the gateway
		Timeout   time.Duration `yaml:"timeout"`
	} `yaml:"webhook"`
	File string `yaml:"file"`
}

// OIDCConfig names the OpenID Connect issuer whose JWTs are accepted.
type OIDCConfig struct {
	Issuer   string `yaml:"issuer"`
	Audience string `yaml:"audience"`
	// JWKSURL is the issuer's key set (default: from its discovery document).
	JWKSURL string `yaml:"jwks_url"`
	// CAFile is a PEM bundle for the issuer's TLS (default: system roots).
	CAFile string `yaml:"ca_file"`
}

// Account is one account and the keys it may use.
type Account struct {
	ID string `yaml:"id"`
	// Keys are key URIs (pkcs11: or file:) the account signs and decrypts with.
	Keys []string `yaml:"keys"`
	// Confirm is "sms" (a code is sent; the default) or "none" (policy
	// allows this account to sign without a code unless the caller forces
	// confirmation).
	Confirm string `yaml:"confirm"`
	// Recipient is where codes go (a phone number or address the notifier
	// understands).
	Recipient string `yaml:"recipient"`
	// APIKeys are hex SHA-256 hashes of the API keys of this account.
	APIKeys []string `yaml:"api_key_sha256"`
	// Subjects are OpenID Connect "sub" claims allowed to use the account.
	Subjects []string `yaml:"subjects"`
}

// LoadConfig reads and checks the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kontur config: %w", err)
	}
	return ParseConfig(data)
}

// ParseConfig parses and checks a configuration, applying defaults.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("kontur config: %w", err)
	}
	c.defaults()
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("kontur config: %w", err)
	}
	return &c, nil
}

func (c *Config) defaults() {
	if c.Limits.MaxDocumentMB == 0 {
		c.Limits.MaxDocumentMB = 16
	}
	if c.Limits.MaxDocuments == 0 {
		c.Limits.MaxDocuments = 32
	}
	if c.Codes.TTL == 0 {
		c.Codes.TTL = 5 * time.Minute
	}
	if c.Codes.Attempts == 0 {
		c.Codes.Attempts = 3
	}
	if c.Lease == 0 {
		c.Lease = time.Minute
	}
	if c.Sweep == 0 {
		c.Sweep = 5 * time.Second
	}
	if c.Replica == "" {
		host, _ := os.Hostname()
		c.Replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	for i := range c.Accounts {
		if c.Accounts[i].Confirm == "" {
			c.Accounts[i].Confirm = "sms"
		}
	}
}

func (c *Config) check() error {
	var errs []error
	if (c.Database.DSN == "") == (c.Database.DSNFile == "") {
		errs = append(errs, errors.New("database: exactly one of dsn and dsn_file"))
	}
	if c.Database.DSN != "" {
		if u, err := url.Parse(c.Database.DSN); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				errs = append(errs, errors.New("database.dsn holds a password: put the address in dsn_file (mode 0600)"))
			}
		}
		if strings.Contains(c.Database.DSN, "password=") {
			errs = append(errs, errors.New("database.dsn holds a password: put the address in dsn_file (mode 0600)"))
		}
	}
	if c.Limits.MaxDocumentMB < 0 || c.Limits.MaxDocumentMB > 1024 {
		errs = append(errs, fmt.Errorf("limits.max_document_mb %d: 1 to 1024", c.Limits.MaxDocumentMB))
	}
	if c.Limits.MaxDocuments < 0 || c.Limits.MaxDocuments > 1000 {
		errs = append(errs, fmt.Errorf("limits.max_documents %d: 1 to 1000", c.Limits.MaxDocuments))
	}
	if c.Codes.Attempts < 1 || c.Codes.Attempts > 10 {
		errs = append(errs, fmt.Errorf("codes.attempts %d: 1 to 10", c.Codes.Attempts))
	}
	if c.Codes.TTL < 10*time.Second || c.Codes.TTL > time.Hour {
		errs = append(errs, fmt.Errorf("codes.ttl %v: 10s to 1h", c.Codes.TTL))
	}
	if c.Notifier.Webhook == nil && c.Notifier.File == "" && needsCodes(c.Accounts) {
		errs = append(errs, errors.New("notifier: an account confirms with codes but neither webhook nor file is set"))
	}
	if o := c.Auth.OIDC; o != nil && (o.Issuer == "" || o.Audience == "") {
		errs = append(errs, errors.New("auth.oidc: issuer and audience are required"))
	}
	if len(c.Accounts) == 0 {
		errs = append(errs, errors.New("accounts: none configured"))
	}
	seen := map[string]bool{}
	for i, a := range c.Accounts {
		at := fmt.Sprintf("accounts[%d]", i)
		switch {
		case a.ID == "" || strings.ContainsAny(a.ID, "/?#"):
			errs = append(errs, fmt.Errorf("%s: id %q must be non-empty without / ? #", at, a.ID))
		case seen[a.ID]:
			errs = append(errs, fmt.Errorf("%s: id %q appears twice", at, a.ID))
		}
		seen[a.ID] = true
		if len(a.Keys) == 0 {
			errs = append(errs, fmt.Errorf("%s: no keys", at))
		}
		if a.Confirm != "sms" && a.Confirm != "none" {
			errs = append(errs, fmt.Errorf("%s: confirm %q: sms or none", at, a.Confirm))
		}
		for j, h := range a.APIKeys {
			if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
				errs = append(errs, fmt.Errorf("%s.api_key_sha256[%d]: not a hex SHA-256", at, j))
			}
		}
		if len(a.APIKeys) == 0 && len(a.Subjects) == 0 {
			errs = append(errs, fmt.Errorf("%s: nobody can use it (no api_key_sha256, no subjects)", at))
		}
		if len(a.Subjects) > 0 && c.Auth.OIDC == nil {
			errs = append(errs, fmt.Errorf("%s: subjects need auth.oidc", at))
		}
	}
	return errors.Join(errs...)
}

func needsCodes(accounts []Account) bool {
	// forceConfirmation can ask for a code on any account.
	return len(accounts) > 0
}

// DSN returns the database address, reading dsn_file if set.
func (c *Config) DSN() (string, error) {
	if c.Database.DSN != "" {
		return c.Database.DSN, nil
	}
	data, err := os.ReadFile(c.Database.DSNFile)
	if err != nil {
		return "", fmt.Errorf("database.dsn_file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// account returns the account with id.
func (c *Config) account(id string) (*Account, bool) {
	for i := range c.Accounts {
		if c.Accounts[i].ID == id {
			return &c.Accounts[i], true
		}
	}
	return nil, false
}
