package kontur_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	konturclient "github.com/signet-agent/signet/sdk/kontur"
)

// TestEveryPlace: PFR replies and inventory replies sign like replies; an
// upload past the limit is a 413 that stores nothing; an unknown endpoint is
// the error object; a task of one place is not found under another.
func TestEveryPlace(t *testing.T) {
	e := newEnv(t)
	a := e.startReplica(replicaOptions{name: "a", extra: "limits: {max_document_mb: 1}\n"})
	ctx := ctxT(t)
	code := func(ctx context.Context, in konturclient.SignInitiation) (string, error) {
		return e.code(in.RequestID), nil
	}

	pfr := konturclient.PFRReply("acme", "df-pfr", "doc", "r")
	require.NoError(t, a.client.PutContent(ctx, pfr, "", bytes.NewReader([]byte("pfr"))))
	sigs, err := a.client.SignWithCode(ctx, pfr, false, code)
	require.NoError(t, err)
	require.Len(t, sigs, 1)
	opensslVerify(t, a.Host, sigs[0], []byte("pfr"))

	base := a.client.BaseURL + "/v1/acme/docflows/rdf/documents/rdoc/inventories/inv/documents/idoc/replies/r"
	req, _ := http.NewRequest(http.MethodPut, base+"/content", strings.NewReader("inventory reply"))
	req.Header.Set("X-Kontur-Apikey", acmeKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	req, _ = http.NewRequest(http.MethodPost, base+"/cloud-sign", nil)
	req.Header.Set("X-Kontur-Apikey", acmeKey)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Contains(t, string(body), `"confirm-type":"sms"`)

	big := konturclient.Reply("acme", "df-big", "doc", "r")
	err = a.client.PutContent(ctx, big, "", bytes.NewReader(make([]byte, 1<<20+1)))
	var apiErr *konturclient.Error
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusRequestEntityTooLarge, apiErr.StatusCode)
	_, err = a.client.CloudSign(ctx, big, false)
	assert.True(t, konturclient.IsError(err, "documentNotFound"), "nothing was stored: %v", err)

	req, _ = http.NewRequest(http.MethodGet, a.client.BaseURL+"/v1/acme/nothing-here", nil)
	req.Header.Set("X-Kontur-Apikey", acmeKey)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.JSONEq(t, `{"id":"urn:error:externapi:notFound","status-code":404,"message":"No such endpoint: GET /v1/acme/nothing-here"}`, string(body))

	in, err := a.client.CloudSign(ctx, pfr, false)
	require.NoError(t, err)
	_, err = a.client.Task(ctx, konturclient.Reply("acme", "df-other", "doc", "r"), in.TaskID)
	assert.True(t, konturclient.IsError(err, "notFound"), "a task under another place: %v", err)
}
