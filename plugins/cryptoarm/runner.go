package cryptoarm

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// Config is what a Runner needs from the host and the configuration.
type Config struct {
	Keys    *sdk.KeyService
	Consent *sdk.Consent
	Log     *slog.Logger
	Trust   *TrustStore
	Policy  LinkPolicy
	// Roots verify the services' TLS certificates; nil: the system's.
	Roots *x509.CertPool
	// VerifyRoots verify signers' chains in VERIFYSIGN; nil: the system's.
	VerifyRoots *x509.CertPool
	// KeygenToken is the token URI certrequests creates keys on; "": the
	// first token that is not write-protected.
	KeygenToken string
	// SigningKey, when set, is a key URI or URI prefix: only the keys it
	// names are offered for signing and certificate export.
	SigningKey string
	// Backoff is the pause before the first upload retry (doubling).
	Backoff time.Duration
	// Command runs a desktop helper (xdg-open, xdg-email, signet
	// dashboard) and returns its standard output; nil runs it.
	Command func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Signet is the signet executable startView runs (`signet dashboard
	// --print`); "" finds it in $PATH.
	Signet string
	// Version is reported by diagnostics.
	Version string
}

// Runner runs jobs, each in its own goroutine. It is safe for concurrent use.
type Runner struct {
	cfg Config
	wg  sync.WaitGroup
}

// NewRunner returns a runner with cfg.
func NewRunner(cfg Config) *Runner {
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Command == nil {
		cfg.Command = func(ctx context.Context, name string, args ...string) ([]byte, error) {
			var stderr strings.Builder
			c := exec.CommandContext(ctx, name, args...)
			c.Stderr = &stderr
			out, err := c.Output()
			if err != nil {
				return nil, fmt.Errorf("%s: %v: %s", name, err, clip(strings.TrimSpace(stderr.String())))
			}
			return out, nil
		}
	}
	if cfg.Signet == "" {
		cfg.Signet = "signet"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Runner{cfg: cfg}
}

// Start runs the job of l in the background until it ends or ctx does.
func (r *Runner) Start(ctx context.Context, l Link) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := r.Run(ctx, l); err != nil {
			r.cfg.Log.Warn("cryptoarm job failed", "command", l.Command, "service", l.Origin(), "id", l.ID, "error", err)
		}
	}()
}

// Wait waits for the jobs started.
func (r *Runner) Wait() { r.wg.Wait() }

// Run runs the job of l and returns when it is done.
func (r *Runner) Run(ctx context.Context, l Link) error {
	if l.Local() {
		return r.runLocal(ctx, l)
	}
	return r.runWeb(ctx, l)
}

// notification is a JSON-RPC 2.0 notification: no id at the top level.
type notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

func notify(method string, params any) notification {
	return notification{JSONRPC: "2.0", Method: method, Params: params}
}

// refused reports that the person (or the policy) said no.
func refused(err error) bool {
	return errors.Is(err, sdk.ErrDenied) || errors.Is(err, sdk.ErrCancelled) || errors.Is(err, sdk.ErrTimeout)
}

// item is one file of a job, downloaded (or produced).
type item struct {
	ID   json.RawMessage // as received; nil for a produced archive
	Name string
	Data []byte
	Sum  [32]byte
	// Detached is the detached signature paired with Data (VERIFYSIGN).
	Detached []byte
	// Signers describe the signature made or checked (outDirectResults).
	Signers []signerInfo
	Status  *bool // VERIFYSIGN
}

// job is one job, web or local.
type job struct {
	r       *Runner
	link    Link
	params  Params
	origin  string // "" for a local job
	caller  string
	web     *jobClient // nil for a local job
	outDir  string     // local: the uploader folder
	pin     string
	summary string
	run     string // a local job's random run id
}

// op is the Operation of the job's host calls.
func (j *job) op(docs []sdk.Document) sdk.Operation {
	ev := map[string]string{"protocol": "cryptoarm", "command": j.link.Command}
	if j.link.Service != "" {
		ev["service"] = clip(j.link.Service)
	}
	if j.link.ID != "" {
		ev["transaction"] = clip(j.link.ID)
	}
	if j.pin != "" {
		ev["service certificate SPKI SHA-256"] = j.pin
	}
	if j.params.AppName != "" {
		ev["application"] = clip(j.params.AppName)
	}
	if j.params.APIKey != "" {
		ev["verification code"] = clip(j.params.APIKey)
	}
	return sdk.Operation{
		Origin:    j.origin,
		Caller:    j.caller,
		Summary:   j.summary,
		Documents: docs,
		Evidence:  ev,
		RequestID: j.requestID(),
	}
}

// requestID names the job for the host, which signs at most once per
// request id: a web job is its transaction (opening the same link twice
// does not sign twice); a local job is each run of its file, which the
// person may run again on purpose.
func (j *job) requestID() string {
	if j.web == nil {
		return "cryptoarm/local/" + j.run + "/" + j.txid()
	}
	return "cryptoarm/" + j.txid()
}

func (j *job) txid() string {
	if j.link.ID != "" {
		return j.link.ID
	}
	return j.link.AccessToken
}

// describe builds the job's summary from the service's own texts (shown
// as its claims) and what Signet will do.
func (j *job) describe(what string) {
	var b strings.Builder
	b.WriteString("CryptoARM job: " + what)
	if j.origin != "" {
		b.WriteString(" for " + j.origin)
	}
	if t := strings.TrimSpace(j.params.Props.HeaderText); t != "" {
		b.WriteString(". The service says: “" + clipN(t, 40) + "”")
	}
	if t := strings.TrimSpace(j.params.Props.DescriptionText); t != "" {
		b.WriteString(" “" + clipN(t, 120) + "”")
	}
	j.summary = b.String()
}

func clipN(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// hostSigner is a crypto.Signer that signs through the host under a fixed
// request id, so the host signs at most once per job file.
type hostSigner struct {
	ctx context.Context
	ks  *sdk.KeyService
	key sdk.Key
	op  sdk.Operation
}

func (s *hostSigner) Public() crypto.PublicKey { return s.key.PublicKey }

func (s *hostSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.ks.Sign(s.ctx, s.key.URI, digest, opts, s.op)
}

// hostDecrypter decrypts RSA key transport through the host.
type hostDecrypter struct {
	ctx context.Context
	ks  *sdk.KeyService
	key sdk.Key
	op  sdk.Operation
}

func (d *hostDecrypter) Public() crypto.PublicKey { return d.key.PublicKey }

func (d *hostDecrypter) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return d.ks.Decrypt(d.ctx, d.key.URI, msg, opts, d.op)
}
