// Package kontur is a client of the Kontur.Extern cloud-signing and
// cloud-decryption API: reply and draft signing confirmed with a one-time
// code, task polling, and decryption of incoming documents. It works against
// Signet's server mode (the kontur plugin) and against Kontur's own API
// (the documented paths, kebab-case JSON, bytes as base64 JSON strings).
//
//	c := &kontur.Client{BaseURL: "https://sign.example.org", APIKey: key}
//	place := kontur.Draft(account, draftID)
//	_ = c.PutContent(ctx, place, "report.xml", file) // Signet's server mode only
//	sigs, err := c.SignWithCode(ctx, place, false, func(ctx context.Context, in kontur.SignInitiation) (string, error) {
//		return askPerson("code sent by SMS: ")
//	})
package kontur

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxResponse bounds a response body the client reads (a signature or a
// decrypted document as base64).
const MaxResponse = 256 << 20

// Client calls the API. Set APIKey (X-Kontur-Apikey) or Token (an OpenID
// Connect access token source, sent as a bearer token).
type Client struct {
	BaseURL string
	HTTP    *http.Client // nil: http.DefaultClient
	APIKey  string
	Token   func(ctx context.Context) (string, error)
}

// Place is what a request addresses: a reply, a PFR reply, a draft, or an
// incoming document (for decryption).
type Place struct {
	Account string
	path    string // after /v1/{account}
	draft   bool
}

// Reply is a reply document of a docflow's document.
func Reply(account, docflow, document, reply string) Place {
	return Place{Account: account, path: "/docflows/" + seg(docflow) + "/documents/" + seg(document) + "/replies/" + seg(reply)}
}

// PFRReply is a PFR reply document.
func PFRReply(account, docflow, document, reply string) Place {
	return Place{Account: account, path: "/docflows/" + seg(docflow) + "/documents/" + seg(document) + "/pfr-replies/" + seg(reply)}
}

// Draft is a draft; its documents are signed together.
func Draft(account, draft string) Place {
	return Place{Account: account, path: "/drafts/" + seg(draft), draft: true}
}

// Document is an incoming docflow document, to decrypt.
func Document(account, docflow, document string) Place {
	return Place{Account: account, path: "/docflows/" + seg(docflow) + "/documents/" + seg(document)}
}

func seg(s string) string { return url.PathEscape(s) }

// Link is the API's link object.
type Link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
}

// SignInitiation is the answer to a cloud-sign request.
type SignInitiation struct {
	Links           []Link `json:"links"`
	DocumentsToSign []Link `json:"documents-to-sign"`
	RequestID       string `json:"request-id"`
	TaskID          string `json:"task-id"`
	ConfirmType     string `json:"confirm-type"`
}

// NeedsConfirmation reports whether a code (request-id) or an asynchronous
// confirmation (task-id) is pending; without either the signing is done.
func (s SignInitiation) NeedsConfirmation() bool { return s.RequestID != "" || s.TaskID != "" }

// DecryptInitiation is the answer to a decrypt-content request.
type DecryptInitiation struct {
	ConfirmLink *Link  `json:"confirm-link"`
	RequestID   string `json:"request-id"`
	TaskID      string `json:"decryption-task-id"`
	LegacyTask  string `json:"task-id"` // older servers name it so
	ConfirmType string `json:"confirm-type"`
}

// TaskInfo is a task's state.
type TaskInfo struct {
	ID     string          `json:"id"`
	Type   string          `json:"task-type"`
	State  string          `json:"task-state"` // running, succeed, failed
	Result json.RawMessage `json:"task-result"`
	Error  *Error          `json:"error"`
}

// Error is the API's error object; every non-2xx answer becomes one.
type Error struct {
	ID         string         `json:"id"`
	StatusCode int            `json:"status-code"`
	Message    string         `json:"message"`
	TraceID    string         `json:"trace-id"`
	Context    map[string]any `json:"context"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("kontur: %d %s: %s", e.StatusCode, strings.TrimPrefix(e.ID, "urn:error:externapi:"), e.Message)
}

// IsError reports whether err is an API error with that id (the part after
// "urn:error:externapi:", e.g. "concurrentApiTaskActive").
func IsError(err error, id string) bool {
	var e *Error
	return errors.As(err, &e) && strings.TrimPrefix(e.ID, "urn:error:externapi:") == id
}

// PutContent uploads a document to sign (a draft's document, or a reply's
// one document when document is "") — an extension of Signet's server mode,
// where documents do not already live in a docflow.
func (c *Client) PutContent(ctx context.Context, p Place, document string, r io.Reader) error {
	path := p.path + "/content"
	if p.draft {
		path = p.path + "/documents/" + seg(document) + "/content?name=" + url.QueryEscape(document)
	}
	return c.do(ctx, http.MethodPut, c.url(p, path), r, "application/octet-stream", nil)
}

// PutEncryptedContent uploads the CMS EnvelopedData of an incoming
// document (Signet's server mode).
func (c *Client) PutEncryptedContent(ctx context.Context, p Place, r io.Reader) error {
	return c.do(ctx, http.MethodPut, c.url(p, p.path+"/encrypted-content"), r, "application/octet-stream", nil)
}

// CloudSign starts cloud signing of p.
func (c *Client) CloudSign(ctx context.Context, p Place, forceConfirmation bool) (SignInitiation, error) {
	var out SignInitiation
	u := c.url(p, p.path+"/cloud-sign")
	if !p.draft {
		u += "?forceConfirmation=" + strconv.FormatBool(forceConfirmation)
	}
	err := c.do(ctx, http.MethodPost, u, nil, "", &out)
	return out, err
}

// ConfirmSign confirms with the code and returns the signed documents'
// links.
func (c *Client) ConfirmSign(ctx context.Context, p Place, requestID, code string) ([]Link, error) {
	var out struct {
		Signed []Link `json:"signed-documents"`
		Links  []Link `json:"links"`
	}
	q := url.Values{"requestId": {requestID}, "code": {code}}
	err := c.do(ctx, http.MethodPost, c.url(p, p.path+"/cloud-sign-confirm?"+q.Encode()), nil, "", &out)
	if len(out.Signed) == 0 {
		out.Signed = out.Links // PFR replies answer with links
	}
	return out.Signed, err
}

// Task returns a task's state.
func (c *Client) Task(ctx context.Context, p Place, taskID string) (TaskInfo, error) {
	var out TaskInfo
	err := c.do(ctx, http.MethodGet, c.url(p, p.path+"/tasks/"+seg(taskID)), nil, "", &out)
	return out, err
}

// Bytes fetches a link whose answer is bytes as a base64 JSON string (a
// signature).
func (c *Client) Bytes(ctx context.Context, l Link) ([]byte, error) {
	var out []byte
	err := c.do(ctx, http.MethodGet, l.Href, nil, "", &out)
	return out, err
}

// DecryptInit starts cloud decryption of p's content encrypted to cert.
func (c *Client) DecryptInit(ctx context.Context, p Place, cert *x509.Certificate, unzipIfCan bool) (DecryptInitiation, error) {
	body, _ := json.Marshal(map[string]string{"certificate-base64": base64.StdEncoding.EncodeToString(cert.Raw)})
	var out DecryptInitiation
	u := c.url(p, p.path+"/decrypt-content?unzipIfCan="+strconv.FormatBool(unzipIfCan))
	err := c.do(ctx, http.MethodPost, u, bytes.NewReader(body), "application/json", &out)
	if out.TaskID == "" {
		out.TaskID = out.LegacyTask
	}
	return out, err
}

// ConfirmDecrypt confirms a decryption and returns the plaintext.
func (c *Client) ConfirmDecrypt(ctx context.Context, p Place, requestID, code string, unzip bool) ([]byte, error) {
	q := url.Values{"requestId": {requestID}, "code": {code}, "unzip": {strconv.FormatBool(unzip)}}
	var out []byte
	err := c.do(ctx, http.MethodPost, c.url(p, p.path+"/decrypt-content-confirm?"+q.Encode()), nil, "", &out)
	return out, err
}

// TestCode reads a request's code from the test-tools endpoint (test
// environments only).
func (c *Client) TestCode(ctx context.Context, requestID string) (string, error) {
	u := strings.TrimSuffix(c.BaseURL, "/") + "/test-tools/v1/get-cloud-sign-confirmation-code?requestId=" + url.QueryEscape(requestID)
	var raw rawBody
	if err := c.do(ctx, http.MethodGet, u, nil, "", &raw); err != nil {
		return "", err
	}
	code := strings.TrimSpace(string(raw))
	if s, err := strconv.Unquote(code); err == nil {
		code = s // a server that answers with a JSON string
	}
	return code, nil
}

// WaitTask polls a task every interval until it is no longer running, and
// returns it (asynchronous confirmation: the person confirms elsewhere).
func (c *Client) WaitTask(ctx context.Context, p Place, taskID string, interval time.Duration) (TaskInfo, error) {
	for {
		t, err := c.Task(ctx, p, taskID)
		if err != nil || t.State != "running" {
			return t, err
		}
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// CodeFunc supplies the code the person received for a request.
type CodeFunc func(ctx context.Context, in SignInitiation) (string, error)

// SignWithCode runs init → code → confirm and returns the signatures (DER
// CMS) in the order of the links the server gave.
func (c *Client) SignWithCode(ctx context.Context, p Place, force bool, code CodeFunc) ([][]byte, error) {
	in, err := c.CloudSign(ctx, p, force)
	if err != nil {
		return nil, err
	}
	links := in.Links
	switch {
	case in.RequestID == "" && in.TaskID != "":
		// Confirmed elsewhere (my-dss): wait for the task.
		t, err := c.WaitTask(ctx, p, in.TaskID, time.Second)
		if err != nil {
			return nil, err
		}
		if t.State != "succeed" {
			if t.Error != nil {
				return nil, t.Error
			}
			return nil, fmt.Errorf("kontur: task %s ended %s", t.ID, t.State)
		}
		var res struct {
			Signed []Link `json:"signed-documents"`
		}
		if err := json.Unmarshal(t.Result, &res); err != nil {
			return nil, fmt.Errorf("kontur: task %s result: %w", t.ID, err)
		}
		links = res.Signed
	case in.RequestID != "":
		cd, err := code(ctx, in)
		if err != nil {
			return nil, err
		}
		if links, err = c.ConfirmSign(ctx, p, in.RequestID, cd); err != nil {
			return nil, err
		}
	}
	var out [][]byte
	for _, l := range links {
		sig, err := c.Bytes(ctx, l)
		if err != nil {
			return nil, err
		}
		out = append(out, sig)
	}
	return out, nil
}

type rawBody []byte

func (c *Client) url(p Place, path string) string {
	return strings.TrimSuffix(c.BaseURL, "/") + "/v1/" + seg(p.Account) + path
}

func (c *Client) do(ctx context.Context, method, u string, body io.Reader, contentType string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("kontur: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.APIKey != "" {
		req.Header.Set("X-Kontur-Apikey", c.APIKey)
	}
	if c.Token != nil {
		tok, err := c.Token(ctx)
		if err != nil {
			return fmt.Errorf("kontur: access token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("kontur: %s %s: %w", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return fmt.Errorf("kontur: %s %s: read answer: %w", method, req.URL.Path, err)
	}
	if len(data) > MaxResponse {
		return fmt.Errorf("kontur: %s %s: answer larger than %d bytes", method, req.URL.Path, MaxResponse)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{StatusCode: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.ID == "" {
			e.ID, e.Message = "http", strings.TrimSpace(string(data))
		}
		e.StatusCode = resp.StatusCode
		return e
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *rawBody:
		*o = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("kontur: %s %s: answer is not the expected JSON: %w", method, req.URL.Path, err)
	}
	return nil
}
