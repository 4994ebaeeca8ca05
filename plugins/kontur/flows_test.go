package kontur_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	konturclient "github.com/signet-agent/signet/sdk/kontur"
	"github.com/signet-agent/signet/sdk/plugintest"
)

// TestCloudSignAcrossReplicas: init on one replica, the code arrives, the
// confirm goes to another replica, and OpenSSL verifies the signature.
func TestCloudSignAcrossReplicas(t *testing.T) {
	e := newEnv(t)
	a := e.startReplica(replicaOptions{name: "a", testTools: true})
	b := e.startReplica(replicaOptions{name: "b"})
	ctx := ctxT(t)

	place := konturclient.Reply("acme", "df-1", "doc-1", "reply-1")
	doc := []byte("<reply>accepted</reply>")
	require.NoError(t, a.client.PutContent(ctx, place, "", bytes.NewReader(doc)))

	in, err := a.client.CloudSign(ctx, place, false)
	require.NoError(t, err)
	assert.Equal(t, "sms", in.ConfirmType)
	require.True(t, in.NeedsConfirmation())
	require.Len(t, in.DocumentsToSign, 1)

	task, err := b.client.Task(ctx, place, in.TaskID)
	require.NoError(t, err)
	assert.Equal(t, "running", task.State, "a task waiting for its code is running")

	code := e.code(in.RequestID)
	viaTools, err := a.client.TestCode(ctx, in.RequestID)
	require.NoError(t, err)
	assert.Equal(t, code, viaTools, "the test-tools endpoint gives the code that was sent")
	_, err = b.client.TestCode(ctx, in.RequestID)
	assert.True(t, konturclient.IsError(err, "notFound"), "a replica without test_tools has no such endpoint: %v", err)

	links, err := b.client.ConfirmSign(ctx, place, in.RequestID, code)
	require.NoError(t, err)
	require.Len(t, links, 1)
	sig, err := a.client.Bytes(ctx, links[0])
	require.NoError(t, err)
	opensslVerify(t, a.Host, sig, doc)

	task, err = a.client.Task(ctx, place, in.TaskID)
	require.NoError(t, err)
	assert.Equal(t, "succeed", task.State)
	assert.Equal(t, 1, e.signsOf(in.TaskID), "one signature for one document")

	_, err = a.client.ConfirmSign(ctx, place, in.RequestID, code)
	assert.True(t, konturclient.IsError(err, "requestNotAwaitingConfirmation"), "a used code is refused: %v", err)
	assert.Equal(t, 1, e.signsOf(in.TaskID), "a replayed code signs nothing")
}

// TestCloudSignDraftAndNoConfirmation: a draft's documents are signed
// together; an account whose policy is confirm: none signs at once, unless
// the caller forces confirmation.
func TestCloudSignDraftAndNoConfirmation(t *testing.T) {
	e := newEnv(t)
	a := e.startReplica(replicaOptions{name: "a"})
	ctx := ctxT(t)

	draft := konturclient.Draft("acme", "draft-7")
	docs := map[string][]byte{"a.xml": []byte("<a/>"), "b.xml": []byte("<b/>")}
	for name, d := range docs {
		require.NoError(t, a.client.PutContent(ctx, draft, name, bytes.NewReader(d)))
	}
	sigs, err := a.client.SignWithCode(ctx, draft, false, func(ctx context.Context, in konturclient.SignInitiation) (string, error) {
		return e.code(in.RequestID), nil
	})
	require.NoError(t, err)
	require.Len(t, sigs, 2)
	opensslVerify(t, a.Host, sigs[0], docs["a.xml"])
	opensslVerify(t, a.Host, sigs[1], docs["b.xml"])

	auto := &konturclient.Client{BaseURL: a.client.BaseURL, APIKey: acmeKey}
	place := konturclient.Reply("auto", "df", "doc", "r")
	require.NoError(t, auto.PutContent(ctx, place, "", bytes.NewReader([]byte("x"))))
	in, err := auto.CloudSign(ctx, place, false)
	require.NoError(t, err)
	assert.Equal(t, "none", in.ConfirmType)
	assert.False(t, in.NeedsConfirmation(), "confirm-type none returns no ids: the signature is made")
	require.Len(t, in.Links, 1)
	sig, err := auto.Bytes(ctx, in.Links[0])
	require.NoError(t, err)
	opensslVerify(t, a.Host, sig, []byte("x"))

	place2 := konturclient.Reply("auto", "df2", "doc", "r")
	require.NoError(t, auto.PutContent(ctx, place2, "", bytes.NewReader([]byte("y"))))
	in, err = auto.CloudSign(ctx, place2, true)
	require.NoError(t, err)
	assert.Equal(t, "sms", in.ConfirmType, "forceConfirmation asks for a code even where policy needs none")
}

// TestCodeErrorsAndLocks: wrong codes, the attempt limit, the per-docflow
// lock, and credentials.
func TestCodeErrorsAndLocks(t *testing.T) {
	e := newEnv(t)
	a := e.startReplica(replicaOptions{name: "a"})
	ctx := ctxT(t)

	r1 := konturclient.Reply("acme", "df", "doc", "r1")
	r2 := konturclient.Reply("acme", "df", "doc", "r2")
	for _, p := range []konturclient.Place{r1, r2} {
		require.NoError(t, a.client.PutContent(ctx, p, "", bytes.NewReader([]byte("reply"))))
	}
	in, err := a.client.CloudSign(ctx, r1, false)
	require.NoError(t, err)

	_, err = a.client.CloudSign(ctx, r2, false)
	var apiErr *konturclient.Error
	require.ErrorAs(t, err, &apiErr, "another reply of the same docflow while one is active")
	assert.Equal(t, http.StatusConflict, apiErr.StatusCode)
	assert.Equal(t, "urn:error:externapi:concurrentApiTaskActive", apiErr.ID)
	assert.Equal(t, in.TaskID, apiErr.Context["concurrent-task"].(map[string]any)["id"])

	code := e.code(in.RequestID)
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	_, err = a.client.ConfirmSign(ctx, r1, in.RequestID, wrong)
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
	assert.EqualValues(t, 2, apiErr.Context["attempts-left"])
	_, err = a.client.ConfirmSign(ctx, r1, in.RequestID, wrong)
	require.Error(t, err)
	_, err = a.client.ConfirmSign(ctx, r1, in.RequestID, wrong)
	assert.True(t, konturclient.IsError(err, "confirmationAttemptsExceeded"), "%v", err)
	_, err = a.client.ConfirmSign(ctx, r1, in.RequestID, code)
	assert.True(t, konturclient.IsError(err, "requestNotAwaitingConfirmation"), "the right code after the limit: %v", err)
	assert.Zero(t, e.signsOf(in.TaskID))

	// The dead request frees the lock.
	_, err = a.client.CloudSign(ctx, r2, false)
	assert.NoError(t, err)

	for name, c := range map[string]*konturclient.Client{
		"no credentials": {BaseURL: a.client.BaseURL},
		"unknown key":    {BaseURL: a.client.BaseURL, APIKey: "guess"},
	} {
		_, err := c.CloudSign(ctx, r1, false)
		assert.True(t, konturclient.IsError(err, "unauthorized"), "%s: %v", name, err)
	}
	other := &konturclient.Client{BaseURL: a.client.BaseURL, APIKey: otherKey}
	_, err = other.CloudSign(ctx, r1, false)
	assert.True(t, konturclient.IsError(err, "accessDenied"), "another account's key: %v", err)
	_, err = other.Task(ctx, konturclient.Reply("other", "df", "doc", "r1"), in.TaskID)
	assert.True(t, konturclient.IsError(err, "notFound"), "another account's task: %v", err)
}

// TestConcurrentConfirmsSignOnce: six confirms with the right code race on
// three replicas; one signs, the others are told the code is used.
func TestConcurrentConfirmsSignOnce(t *testing.T) {
	e := newEnv(t)
	reps := []*replica{e.startReplica(replicaOptions{name: "a"}), e.startReplica(replicaOptions{name: "b"}), e.startReplica(replicaOptions{name: "c"})}
	ctx := ctxT(t)
	place := konturclient.Reply("acme", "race", "doc", "r")
	require.NoError(t, reps[0].client.PutContent(ctx, place, "", bytes.NewReader([]byte("race"))))
	in, err := reps[0].client.CloudSign(ctx, place, false)
	require.NoError(t, err)
	code := e.code(in.RequestID)

	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, used := 0, 0
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(r *replica) {
			defer wg.Done()
			_, err := r.client.ConfirmSign(ctx, place, in.RequestID, code)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if assert.True(t, konturclient.IsError(err, "requestNotAwaitingConfirmation"), "%v", err) {
				used++
			}
		}(reps[i%3])
	}
	wg.Wait()
	assert.Equal(t, 1, ok)
	assert.Equal(t, 5, used)
	assert.Equal(t, 1, e.signsOf(in.TaskID), "signed once")
}

// TestCloudDecrypt: content OpenSSL encrypted to the account's certificate
// is decrypted through the host after the code, on both confirm paths.
func TestCloudDecrypt(t *testing.T) {
	e := newEnv(t)
	a := e.startReplica(replicaOptions{name: "a"})
	ctx := ctxT(t)
	chain := a.Chain(t, plugintest.KeyRSA)
	dir := t.TempDir()
	plain := []byte("incoming document for acme")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "plain"), plain, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), chain.LeafPEM, 0o600))
	out, err := exec.Command("openssl", "cms", "-encrypt", "-binary", "-aes256", "-outform", "DER",
		"-in", filepath.Join(dir, "plain"), "-out", filepath.Join(dir, "env"), filepath.Join(dir, "cert.pem")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	require.NoError(t, err)

	place := konturclient.Document("acme", "df-in", "doc-in")
	require.NoError(t, a.client.PutEncryptedContent(ctx, place, bytes.NewReader(env)))
	in, err := a.client.DecryptInit(ctx, place, chain.Leaf, false)
	require.NoError(t, err)
	assert.Equal(t, "sms", in.ConfirmType)
	require.NotEmpty(t, in.TaskID)
	got, err := a.client.ConfirmDecrypt(ctx, place, in.RequestID, e.code(in.RequestID), false)
	require.NoError(t, err)
	assert.Equal(t, plain, got)

	task, err := a.client.Task(ctx, place, in.TaskID)
	require.NoError(t, err)
	assert.Equal(t, "succeed", task.State)
	assert.JSONEq(t, `{"content-id":"`+in.TaskID+`"}`, string(task.Result))

	// The current documentation's confirm path answers with a link to the
	// contents service.
	in, err = a.client.DecryptInit(ctx, place, chain.Leaf, false)
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodPost, a.client.BaseURL+"/v1/acme/docflows/df-in/documents/doc-in/confirm-content-decryption?requestId="+
		in.RequestID+"&code="+e.code(in.RequestID), nil)
	req.Header.Set("X-Kontur-Apikey", acmeKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var answer struct {
		ContentID string              `json:"content-id"`
		Links     []konturclient.Link `json:"links"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, answer.Links, 1)
	req, _ = http.NewRequest(http.MethodGet, answer.Links[0].Href, nil)
	req.Header.Set("X-Kontur-Apikey", acmeKey)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, plain, got, "the contents service returns the plaintext")
}
