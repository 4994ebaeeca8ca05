package consentui

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenFailureLogsURL: on a box where no browser can be opened, the
// dialog's URL is logged at WARN so the person can open it by hand, and
// that URL is the live dialog.
func TestOpenFailureLogsURL(t *testing.T) {
	var logs testutil.SyncBuffer
	s, err := New(Config{InsecurePlainHTTP: true, Timeout: time.Minute,
		Open:   func(string) error { return errors.New("exec: \"xdg-open\": executable file not found in $PATH") },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Confirm(ctx, consent.Question{ID: "q1", Request: consent.Request{Kind: consent.Sign, Caller: "cli", Summary: "by hand"}})
		errc <- err
	}()
	re := regexp.MustCompile(`level=WARN msg="consent dialog: cannot open the browser; open the URL by hand" id=q1 url="?(http://127\.0\.0\.1:\d+/q/[0-9a-f]+\?k=[0-9a-f]+)"? `)
	var url string
	for url == "" {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-errc:
			require.FailNow(t, "Confirm ended", "%v\n%s", err, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "logged URL")
	cancel()
	assert.Error(t, <-errc, "cancelled dialog allowed")
}
