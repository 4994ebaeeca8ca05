package cryptoarm

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// PluginVersion is the version of the Signet CryptoARM plugin.
const PluginVersion = "0.1.0"

// Plugin options (README "Configuration").
const (
	OptionStateDir          = "state_dir"           // trusted services; default $XDG_DATA_HOME/signet/cryptoarm
	OptionAllowLoopbackHTTP = "allow_loopback_http" // "true": http://127.0.0.1 services (development)
	OptionCAFile            = "ca_file"             // PEM roots for services' TLS, instead of the system's
	OptionVerifyCAFile      = "verify_ca_file"      // PEM roots for VERIFYSIGN and certificate status
	OptionKeygenToken       = "keygen_token"        // pkcs11: token URI for certrequests
	OptionSigningKey        = "signing_key"         // pkcs11: URI (prefix) narrowing the keys offered
	OptionLocalJobs         = "local_jobs"          // "false" refuses local jobs
	OptionSignet            = "signet"              // signet executable for startView
	OptionUploadBackoff     = "upload_backoff"      // pause before an upload retry (1s)
)

// Plugin is the CryptoARM protocol plugin. Use a pointer: OpenURL needs
// what Serve set up.
type Plugin struct {
	mu     sync.Mutex
	ready  chan struct{} // closed once Serve set the runner up
	runner *Runner
	ctx    context.Context
	policy LinkPolicy
}

// Describe declares the cryptoarm: scheme and no listener.
func (*Plugin) Describe() sdk.Description {
	return sdk.Description{
		Name:       "cryptoarm",
		Version:    PluginVersion,
		Summary:    "CryptoARM cryptoarm:// links: portal JSON-RPC jobs and local jobs",
		URLSchemes: []string{"cryptoarm"},
	}
}

// Serve sets the runner up and waits until the host stops the plugin;
// jobs in flight are then cancelled.
func (p *Plugin) Serve(ctx context.Context, host *sdk.Host) error {
	cfg, policy, err := configFrom(host)
	if err != nil {
		return err
	}
	r := NewRunner(cfg)
	p.mu.Lock()
	p.runner, p.ctx, p.policy = r, ctx, policy
	p.mu.Unlock()
	close(p.readyChan())
	<-ctx.Done()
	r.Wait()
	return nil
}

// OpenURL checks the link and starts its job; errors in the link come
// back to `signet open`.
func (p *Plugin) OpenURL(ctx context.Context, raw string) error {
	// The host may hand a link over as soon as the plugin started, before
	// Serve has run.
	select {
	case <-p.readyChan():
	case <-ctx.Done():
		return fmt.Errorf("cryptoarm plugin not started: %w", sdk.ErrUnavailable)
	}
	p.mu.Lock()
	r, jobCtx, policy := p.runner, p.ctx, p.policy
	p.mu.Unlock()
	l, err := ParseLink(raw, policy)
	if err != nil {
		return fmt.Errorf("%w: %w", err, sdk.ErrInvalidRequest)
	}
	r.Start(jobCtx, l)
	return nil
}

func (p *Plugin) readyChan() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready == nil {
		p.ready = make(chan struct{})
	}
	return p.ready
}

func configFrom(host *sdk.Host) (Config, LinkPolicy, error) {
	cfg := Config{Keys: host.KeyService(), Consent: host.Consent(), Log: host.Logger(), Version: PluginVersion}
	var policy LinkPolicy
	switch v := host.Option(OptionAllowLoopbackHTTP); v {
	case "", "false":
	case "true":
		policy.LoopbackHTTP = true
	default:
		return cfg, policy, fmt.Errorf("plugin option %s=%q: want true or false", OptionAllowLoopbackHTTP, v)
	}
	switch v := host.Option(OptionLocalJobs); v {
	case "", "true":
	case "false":
		policy.NoLocalJobs = true
	default:
		return cfg, policy, fmt.Errorf("plugin option %s=%q: want true or false", OptionLocalJobs, v)
	}
	cfg.Policy = policy
	dir := host.Option(OptionStateDir)
	if dir == "" {
		base := os.Getenv("XDG_DATA_HOME")
		if !filepath.IsAbs(base) {
			home, err := os.UserHomeDir()
			if err != nil {
				return cfg, policy, fmt.Errorf("no home directory for the plugin's state; set plugin option %s: %w", OptionStateDir, err)
			}
			base = filepath.Join(home, ".local", "share")
		}
		dir = filepath.Join(base, "signet", "cryptoarm")
	}
	ts, err := NewTrustStore(dir)
	if err != nil {
		return cfg, policy, fmt.Errorf("plugin option %s: %w", OptionStateDir, err)
	}
	cfg.Trust = ts
	for opt, dst := range map[string]**x509.CertPool{OptionCAFile: &cfg.Roots, OptionVerifyCAFile: &cfg.VerifyRoots} {
		if f := host.Option(opt); f != "" {
			pem, err := os.ReadFile(f)
			if err != nil {
				return cfg, policy, fmt.Errorf("plugin option %s: %w", opt, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return cfg, policy, fmt.Errorf("plugin option %s: no PEM certificate in %s", opt, f)
			}
			*dst = pool
		}
	}
	if v := host.Option(OptionKeygenToken); v != "" {
		if !strings.HasPrefix(v, "pkcs11:") {
			return cfg, policy, fmt.Errorf("plugin option %s=%q: want a pkcs11: token URI", OptionKeygenToken, v)
		}
		cfg.KeygenToken = v
	}
	if v := host.Option(OptionSigningKey); v != "" {
		if !strings.HasPrefix(v, "pkcs11:") && !strings.HasPrefix(v, "file:") {
			return cfg, policy, fmt.Errorf("plugin option %s=%q: want a pkcs11: or file: key URI or URI prefix", OptionSigningKey, v)
		}
		cfg.SigningKey = v
	}
	cfg.Signet = host.Option(OptionSignet)
	if v := host.Option(OptionUploadBackoff); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Minute {
			return cfg, policy, fmt.Errorf("plugin option %s=%q: want a duration up to 1m", OptionUploadBackoff, v)
		}
		cfg.Backoff = d
	}
	return cfg, policy, nil
}
