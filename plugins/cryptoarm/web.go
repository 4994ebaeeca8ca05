package cryptoarm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/signet-agent/signet/sdk"
)

// ErrUntrusted: the person did not trust the service.
var ErrUntrusted = errors.New("service not trusted")

// runWeb runs a job fetched from a service: the parameters request, the
// trust decision, the command, the results.
func (r *Runner) runWeb(ctx context.Context, l Link) error {
	jc := newJobClient(l.Origin(), r.cfg.Policy, r.cfg.Roots)
	defer jc.close()
	j := &job{r: r, link: l, origin: l.Origin(), web: jc}

	raw, err := j.fetchParameters(ctx)
	if err != nil {
		return fmt.Errorf("parameters from %s: %w", l.Origin(), err)
	}
	if err := r.trustService(ctx, j); err != nil {
		return err // nothing more is sent to or fetched from an untrusted service
	}
	p, err := ParseParams(raw)
	if err == nil {
		j.params = p
		err = r.dispatch(ctx, j)
	}
	switch {
	case err == nil:
		return nil
	case refused(err):
		r.cfg.Log.Info("cryptoarm job refused", "service", j.origin, "id", l.ID, "error", err)
		if nerr := j.sendStatus(ctx, "Canceled", nil); nerr != nil {
			return errors.Join(err, nerr)
		}
		return err
	default:
		code := codeOf(err)
		if nerr := j.sendStatus(ctx, "Error", &rpcError{Code: code, Message: err.Error()}); nerr != nil {
			return errors.Join(err, nerr)
		}
		return err
	}
}

// fetchParameters is the parameters request: a JSON-RPC POST with the
// diagnostic object (§4.1), or the legacy GET.
func (j *job) fetchParameters(ctx context.Context) ([]byte, error) {
	if j.link.Legacy {
		data, _, err := j.web.download(ctx, j.link.Service, "", MaxParams)
		return data, err
	}
	var diag any = ""
	if j.link.Command != CmdDiagnostics {
		diag = j.r.preTrustDiagnostic()
	}
	body := map[string]any{"jsonrpc": "2.0", "method": j.link.Command + ".parameters", "id": j.link.ID, "diagnostic": diag}
	return j.web.postJSON(ctx, j.link.Service, body, MaxParams)
}

// trustService asks the person to trust the service unless its origin is
// remembered with the public key it presented; a yes is remembered, and
// from then on every connection of the job must present that key.
func (r *Runner) trustService(ctx context.Context, j *job) error {
	cert := j.web.certificate()
	t := TrustedService{Origin: j.origin, Trusted: time.Now().UTC()}
	if cert != nil {
		t.Pin, t.Subject, t.Fingerprint = SPKIPin(cert), cert.Subject.String(), Fingerprint(cert)
	}
	old, known, err := r.cfg.Trust.Lookup(j.origin)
	if err != nil {
		return err
	}
	if known && old.Pin == t.Pin {
		j.pin = t.Pin
		j.web.trust(t.Pin)
		return nil
	}
	summary := "Trust the service " + j.origin + " to send you CryptoARM jobs (signing, encryption, certificates)?"
	ev := map[string]string{"protocol": "cryptoarm", "service": clip(j.link.Service)}
	if cert != nil {
		summary += " Its TLS certificate: " + clipN(t.Subject, 200) + ", SHA-256 " + t.Fingerprint + "."
		ev["certificate subject"] = clipN(t.Subject, 200)
		ev["certificate SHA-256"] = t.Fingerprint
		ev["public key SHA-256"] = t.Pin
	} else {
		summary += " It has no TLS certificate (loopback http, allowed for development)."
	}
	if known {
		summary += " Its certificate CHANGED since you trusted it (public key SHA-256 was " + old.Pin + ")."
		ev["previous public key SHA-256"] = old.Pin
	}
	op := sdk.Operation{Origin: j.origin, Summary: summary, Evidence: ev, RequestID: "cryptoarm-trust/" + j.txid()}
	if err := r.cfg.Consent.Confirm(ctx, op); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUntrusted, j.origin, err)
	}
	if err := r.cfg.Trust.Remember(t); err != nil {
		return err
	}
	j.pin = t.Pin
	j.web.trust(t.Pin)
	return nil
}

// fetch downloads a file of the job (§5.2) with the job's token.
func (j *job) fetch(ctx context.Context, rawURL string, max int64) ([]byte, [32]byte, error) {
	if j.web == nil {
		return readLocal(rawURL, max)
	}
	tok := j.params.Props.Extra.Token
	if tok == "" {
		tok = j.params.Props.Token
	}
	return j.web.download(ctx, rawURL, tok, max)
}

// resultURL is where results go: uploader, else the command URL.
func (j *job) resultURL() string {
	if j.params.Props.Uploader != "" {
		return j.params.Props.Uploader
	}
	return j.link.Service
}

// send delivers a notification: over the web to url (retried without
// redoing the work), or for a local job into the folder.
func (j *job) send(ctx context.Context, url string, n notification, files []output) error {
	if j.web == nil {
		return j.writeLocal(n, files)
	}
	if j.link.Legacy {
		return j.sendLegacy(ctx, url, files)
	}
	return j.web.notify(ctx, url, n, j.r.cfg.Backoff)
}

// sendStatus tells the service the job was cancelled or failed.
func (j *job) sendStatus(ctx context.Context, status string, e *rpcError) error {
	if j.web == nil {
		return nil
	}
	if j.link.Legacy {
		return j.sendLegacyCancel(ctx)
	}
	params := map[string]any{"id": j.link.ID, "status": status, "error": nil, "errorDescription": nil}
	if e != nil {
		params["error"] = e.Code
		params["errorDescription"] = clipN(e.Message, 500)
	}
	method := j.link.Command + ".outDirectResults"
	return j.web.notify(ctx, j.link.Service, notify(method, params), j.r.cfg.Backoff)
}

// output is one result file.
type output struct {
	ID      json.RawMessage
	Name    string
	Data    []byte
	Signers []signerInfo
}

// sendLegacy posts one multipart/form-data request per result file (§10).
func (j *job) sendLegacy(ctx context.Context, url string, files []output) error {
	extra, _ := json.Marshal(j.params.Props.Extra)
	for _, f := range files {
		signers, _ := json.Marshal(f.Signers)
		fields := map[string]string{"id": rawString(f.ID), "extra": string(extra), "signers": string(signers)}
		if err := j.postMultipart(ctx, url, fields, f.Name, f.Data); err != nil {
			return err
		}
	}
	return nil
}

func (j *job) sendLegacyCancel(ctx context.Context) error {
	for _, f := range j.params.Props.Files {
		if err := j.postMultipart(ctx, j.resultURL(), map[string]string{"id": rawString(f.ID), "success": "0"}, "", nil); err != nil {
			return err
		}
	}
	return nil
}

func (j *job) postMultipart(ctx context.Context, raw string, fields map[string]string, name string, data []byte) error {
	u, err := j.web.check(raw)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if name != "" {
		fw, err := mw.CreateFormFile("file", name)
		if err != nil {
			return err
		}
		fw.Write(data)
	}
	for _, k := range []string{"id", "extra", "signers", "success"} {
		if v, ok := fields[k]; ok {
			mw.WriteField(k, v)
		}
	}
	mw.Close()
	var last error
	for attempt := 1; attempt <= UploadAttempts; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body.Bytes()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := j.web.c.Do(req)
		if err == nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, MaxReply))
			resp.Body.Close()
			if err = statusError(resp); err == nil {
				return nil
			}
		} else {
			err = &transientError{err}
		}
		last = err
		var te *transientError
		if !errors.As(err, &te) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(j.r.cfg.Backoff * time.Duration(attempt)):
		}
	}
	return fmt.Errorf("legacy upload: %w", last)
}

// rawString is a file id as text: a JSON string's value, else the JSON.
func rawString(id json.RawMessage) string {
	var s string
	if json.Unmarshal(id, &s) == nil {
		return s
	}
	return string(id)
}
