package cipher_test

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/plugintest"
)

// lockedBuffer is a log sink safe for the host's and plugin's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestContainerPasswordFromPageNeedsPolicy: an origin the policy does not
// name sends the right keyStorePassword; the host drops it and asks the
// person all the same.
func TestContainerPasswordFromPageNeedsPolicy(t *testing.T) {
	var asked atomic.Int32
	logs := &lockedBuffer{}
	h := plugintest.Start(t, pkg, &plugintest.Config{
		ContainerPassword: personAnswers(&asked, containerPassword),
		PasswordOrigins:   []string{"https://other.example"},
		Logger:            slog.New(slog.NewTextHandler(logs, nil)),
	})
	a := api{t: t, h: h, origin: portal}
	pfx, caFile := newContainer(t, containerPassword)
	doc := []byte("policy says ask")
	id := a.newTicket(doc)
	a.must("PUT", "/ticket/"+id+"/keyStore", "", map[string]string{"base64Data": base64.StdEncoding.EncodeToString(pfx)})
	a.must("POST", "/ticket/"+id+"/ds/creator", "", map[string]string{"keyStorePassword": containerPassword})
	verifyWithCA(t, a.signature(id), caFile, doc)
	assert.Equal(t, int32(1), asked.Load(), "the person was asked: the page's password was not used")
	assert.Contains(t, logs.String(), "dropped a password the page sent")
	assert.NotContains(t, logs.String(), containerPassword)
}

// TestContainerPasswordFromAllowedOrigin: with policy.password_origins
// naming the origin, the page's keyStorePassword opens the container (the
// person is not asked for it; consent is still asked), in ds/creator and
// keyStore/verifier; a wrong one is a clear 400. The password is in no log.
func TestContainerPasswordFromAllowedOrigin(t *testing.T) {
	var asked atomic.Int32
	logs := &lockedBuffer{}
	h := plugintest.Start(t, pkg, &plugintest.Config{
		ContainerPassword: personAnswers(&asked, "not-this-one"),
		PasswordOrigins:   []string{portal},
		Logger:            slog.New(slog.NewTextHandler(logs, nil)),
	})
	a := api{t: t, h: h, origin: portal}
	pfx, caFile := newContainer(t, containerPassword)
	doc := []byte("policy lets the page pass it")

	bad := a.newTicket(doc)
	a.must("PUT", "/ticket/"+bad+"/keyStore", "", map[string]string{"base64Data": base64.StdEncoding.EncodeToString(pfx)})
	r := a.do("POST", "/ticket/"+bad+"/ds/creator", "", map[string]string{"keyStorePassword": "wrong-password-123"})
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), "keyStorePassword")

	id := a.newTicket(doc)
	a.must("PUT", "/ticket/"+id+"/keyStore", "", map[string]string{"base64Data": base64.StdEncoding.EncodeToString(pfx)})
	v := a.must("PUT", "/ticket/"+id+"/keyStore/verifier", "", map[string]string{"keyStorePassword": containerPassword})
	sigInfo, ok := v["signature"].(map[string]any)
	require.True(t, ok, "%v", v)
	assert.Equal(t, true, sigInfo["canBeUsed"])
	a.must("POST", "/ticket/"+id+"/ds/creator", "", map[string]string{"keyStorePassword": containerPassword})
	verifyWithCA(t, a.signature(id), caFile, doc)
	assert.Zero(t, asked.Load(), "the person was never asked for the password")
	assert.NotEmpty(t, h.Consent().QuestionsOf(plugintest.Sign), "consent is still asked")
	assert.Contains(t, logs.String(), "unlocked with the page's password")
	for _, secret := range []string{containerPassword, "wrong-password-123"} {
		assert.NotContains(t, logs.String(), secret)
	}
}
