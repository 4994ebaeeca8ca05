package kontur

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Notice is one code to deliver to the person who confirms.
type Notice struct {
	Account   string    `json:"account"`
	Recipient string    `json:"recipient"`
	RequestID string    `json:"request-id"`
	Kind      string    `json:"kind"` // "sign" or "decrypt"
	Documents int       `json:"documents"`
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires-at"`
}

// Notifier delivers codes. An implementation never logs the code.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// errDelivery: the code could not be delivered (the request is failed, so
// no code that nobody received stays valid).
var errDelivery = errors.New("confirmation code delivery failed")

// newNotifier builds the configured notifier (nil when none is set).
func newNotifier(c NotifierConfig) (Notifier, error) {
	switch {
	case c.Webhook != nil:
		w := &webhook{url: c.Webhook.URL, client: &http.Client{Timeout: c.Webhook.Timeout}}
		if w.client.Timeout == 0 {
			w.client.Timeout = 10 * time.Second
		}
		if c.Webhook.TokenFile != "" {
			tok, err := os.ReadFile(c.Webhook.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("notifier.webhook.token_file: %w", err)
			}
			w.token = strings.TrimSpace(string(tok))
		}
		return w, nil
	case c.File != "":
		return &fileNotifier{path: c.File}, nil
	}
	return nil, nil
}

// webhook POSTs each notice as JSON to the organisation's gateway, which
// sends the SMS or mail.
type webhook struct {
	url    string
	token  string
	client *http.Client
}

func (w *webhook) Notify(ctx context.Context, n Notice) error {
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errDelivery, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errDelivery, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: gateway answered %s", errDelivery, resp.Status)
	}
	return nil
}

// fileNotifier appends one JSON line per notice to a 0600 file: for tests
// and demonstrations, where the file stands in for the person's phone.
type fileNotifier struct {
	path string
	mu   sync.Mutex
}

func (f *fileNotifier) Notify(_ context.Context, n Notice) error {
	line, err := json.Marshal(n)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("%w: %v", errDelivery, err)
	}
	defer fh.Close()
	if _, err := fh.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("%w: %v", errDelivery, err)
	}
	return nil
}
