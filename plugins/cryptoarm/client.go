package cryptoarm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Transport limits (README "Transport").
const (
	RequestTimeout = 2 * time.Minute // one request, body included
	MaxRedirects   = 5
	MaxReply       = 64 << 10 // body of an upload's reply that is read
	UploadAttempts = 3
)

// ErrOtherOrigin: a URL (a file, the uploader, a redirect) outside the
// service's origin.
var ErrOtherOrigin = errors.New("outside the service's origin")

// ErrPinMismatch: a connection presented another certificate than the one
// the person trusted.
var ErrPinMismatch = errors.New("service certificate is not the trusted one")

// jobClient is the HTTP client of one web job: every request goes to the
// service's origin, redirects stay there, and once the service is trusted
// every TLS connection must present the trusted public key.
type jobClient struct {
	origin string
	policy LinkPolicy
	c      *http.Client

	mu   sync.Mutex
	pin  string            // hex SHA-256 of the trusted SPKI; "" until trusted
	leaf *x509.Certificate // the leaf seen on the first connection
}

func newJobClient(origin string, policy LinkPolicy, roots *x509.CertPool) *jobClient {
	j := &jobClient{origin: origin, policy: policy}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		TLSClientConfig: &tls.Config{
			RootCAs:          roots,
			MinVersion:       tls.VersionTLS12,
			VerifyConnection: j.verifyConnection,
		},
		TLSHandshakeTimeout:    30 * time.Second,
		ResponseHeaderTimeout:  RequestTimeout,
		MaxResponseHeaderBytes: 64 << 10,
		ForceAttemptHTTP2:      true,
	}
	j.c = &http.Client{
		Transport: tr,
		Timeout:   RequestTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return fmt.Errorf("more than %d redirects", MaxRedirects)
			}
			if OriginOf(req.URL) != j.origin {
				return fmt.Errorf("redirect to %s: %w %s", OriginOf(req.URL), ErrOtherOrigin, j.origin)
			}
			return nil
		},
	}
	return j
}

func (j *jobClient) close() { j.c.CloseIdleConnections() }

func (j *jobClient) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no server certificate")
	}
	leaf := cs.PeerCertificates[0]
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.leaf == nil {
		j.leaf = leaf
	}
	if j.pin != "" && SPKIPin(leaf) != j.pin {
		return fmt.Errorf("%w: %s presents %s", ErrPinMismatch, j.origin, SPKIPin(leaf))
	}
	return nil
}

// certificate is the leaf the service presented (nil over loopback http).
func (j *jobClient) certificate() *x509.Certificate {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.leaf
}

// trust pins pin for every later connection.
func (j *jobClient) trust(pin string) {
	j.mu.Lock()
	j.pin = pin
	j.mu.Unlock()
	// Connections made before the pin was set are not reused.
	j.c.CloseIdleConnections()
}

// check parses u and requires it on the service's origin.
func (j *jobClient) check(raw string) (*url.URL, error) {
	u, err := ServiceURL(raw, j.policy)
	if err != nil {
		return nil, err
	}
	if OriginOf(u) != j.origin {
		return nil, fmt.Errorf("%s: %w %s", clip(raw), ErrOtherOrigin, j.origin)
	}
	return u, nil
}

// postJSON posts body and reads a reply of at most max bytes.
func (j *jobClient) postJSON(ctx context.Context, raw string, body any, max int64) ([]byte, error) {
	u, err := j.check(raw)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := j.c.Do(req)
	if err != nil {
		return nil, &transientError{err}
	}
	defer resp.Body.Close()
	if err := statusError(resp); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, &transientError{err}
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("reply from %s larger than %d bytes", j.origin, max)
	}
	return data, nil
}

// transientError is a failure worth retrying (network, 5xx, 429).
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func statusError(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		return nil
	case http.StatusMethodNotAllowed:
		return fmt.Errorf("%s: method not allowed (405)", resp.Request.URL.Redacted())
	case http.StatusUnsupportedMediaType:
		return fmt.Errorf("%s: unsupported media type (415)", resp.Request.URL.Redacted())
	}
	err := fmt.Errorf("%s: HTTP status %s", resp.Request.URL.Redacted(), resp.Status)
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return &transientError{err}
	}
	return err
}

// notify posts a JSON-RPC notification, retrying transient failures: the
// body is built once, so a retry re-sends the same results and never makes
// them again.
func (j *jobClient) notify(ctx context.Context, raw string, n notification, backoff time.Duration) error {
	var err error
	for attempt := 1; attempt <= UploadAttempts; attempt++ {
		var data []byte
		if data, err = j.postJSON(ctx, raw, n, MaxReply); err == nil {
			return replyError(data)
		}
		var te *transientError
		if !errors.As(err, &te) || attempt == UploadAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff * time.Duration(attempt)):
		}
	}
	return fmt.Errorf("send %s: %w", n.Method, err)
}

// replyError is the error member of a reply, if the service sent one.
func replyError(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var r struct {
		Error *rpcError `json:"error"`
	}
	if json.Unmarshal(data, &r) == nil && r.Error != nil {
		return fmt.Errorf("service error: %s (%d)", clip(r.Error.Message), r.Error.Code)
	}
	return nil
}

// download GETs a file (§5.2), with the job's access token appended,
// bounded by max bytes, hashing it as it streams.
func (j *jobClient) download(ctx context.Context, raw, token string, max int64) ([]byte, [32]byte, error) {
	var sum [32]byte
	u, err := j.check(raw)
	if err != nil {
		return nil, sum, err
	}
	if token != "" {
		q := u.Query()
		q.Set("accessToken", token)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, sum, err
	}
	resp, err := j.c.Do(req)
	if err != nil {
		return nil, sum, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, sum, fmt.Errorf("%s: HTTP status %s", u.Redacted(), resp.Status)
	}
	if resp.ContentLength > max {
		return nil, sum, fmt.Errorf("%s: %d bytes (at most %d)", u.Redacted(), resp.ContentLength, max)
	}
	return readHashed(resp.Body, max)
}

// readHashed reads r up to max bytes, hashing as it goes.
func readHashed(r io.Reader, max int64) ([]byte, [32]byte, error) {
	var sum [32]byte
	h := sha256.New()
	var buf bytes.Buffer
	n, err := io.Copy(io.MultiWriter(&buf, h), io.LimitReader(r, max+1))
	if err != nil {
		return nil, sum, err
	}
	if n > max {
		return nil, sum, fmt.Errorf("file larger than %d bytes", max)
	}
	copy(sum[:], sumOf(h))
	return buf.Bytes(), sum, nil
}

func sumOf(h hash.Hash) []byte { return h.Sum(nil) }
