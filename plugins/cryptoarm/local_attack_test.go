package cryptoarm_test

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/plugintest"
)

// localEnv runs the plugin for local jobs, with its log captured.
func localEnv(t *testing.T) (*env, *logs) {
	t.Helper()
	l := &logs{}
	cert, certPEM := portalCert(t)
	p := newPortal(t, cert, "")
	return startWithLog(t, plugintest.AllowAll(), p, certPEM, slog.New(l)), l
}

// localJob writes a job file (a parameters response, as local programs
// write it) and returns its cryptoarm link.
func localJob(t *testing.T, dir, uploader string, files []map[string]any, extra map[string]any) string {
	t.Helper()
	job := map[string]any{"jsonrpc": "2.0", "id": "local-1", "result": map[string]any{
		"operation": []string{"SIGN"},
		"props":     map[string]any{"uploader": uploader, "files": files, "extra": extra}}}
	data, err := json.Marshal(job)
	require.NoError(t, err)
	path := filepath.Join(dir, "job.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return "cryptoarm://signAndEncrypt/" + (&url.URL{Scheme: "file", Path: path}).String()
}

func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	var data []byte
	require.Eventually(t, func() bool {
		var err error
		data, err = os.ReadFile(path)
		return err == nil && len(data) > 0
	}, 60*time.Second, 20*time.Millisecond, "no %s", path)
	return data
}

// TestLocalJobWritesIntoUploaderFolder: a local job file names local
// files (file: URL and plain path) and a folder; the detached signatures
// land there as <name>.sig, and an existing result is never overwritten:
// the new one gets a new name.
func TestLocalJobWritesIntoUploaderFolder(t *testing.T) {
	e, _ := localEnv(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	require.NoError(t, os.Mkdir(out, 0o700))
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	require.NoError(t, os.WriteFile(a, []byte("alpha"), 0o600))
	require.NoError(t, os.WriteFile(b, []byte("beta"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(out, "b.txt.sig"), []byte("earlier result"), 0o600))
	link := localJob(t, dir, "file://"+out+"/", []map[string]any{
		{"name": "a.txt", "url": "file://" + a, "id": "0"},
		{"name": "b.txt", "url": b, "id": "1"},
	}, map[string]any{"signType": "1", "signStandard": "0", "signEncoding": "1", "timestampOnSign": "false"})
	e.open(t, link)

	sigA := waitFile(t, filepath.Join(out, "a.txt.sig"))
	sigB := waitFile(t, filepath.Join(out, "b (1).txt.sig"))
	for sig, content := range map[string]string{string(sigA): "alpha", string(sigB): "beta"} {
		rep, err := cms.Verify([]byte(sig), bytes.NewReader([]byte(content)), nil)
		require.NoError(t, err)
		assert.True(t, rep.Detached)
	}
	earlier, err := os.ReadFile(filepath.Join(out, "b.txt.sig"))
	require.NoError(t, err)
	assert.Equal(t, "earlier result", string(earlier), "an existing file is never overwritten")
	choice := e.h.Consent().QuestionsOf(plugintest.Sign)[0]
	assert.Empty(t, choice.Origin, "a local job has no web origin")
	assert.Contains(t, choice.Caller, "job.json")
	require.Len(t, choice.Documents, 2)
}

// TestLocalInlineJob: the job can be inline JSON in the link.
func TestLocalInlineJob(t *testing.T) {
	e, _ := localEnv(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "doc.txt")
	require.NoError(t, os.WriteFile(f, []byte("inline"), 0o600))
	job, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "i", "result": map[string]any{"operation": []string{"SIGN"},
		"props": map[string]any{"uploader": dir, "files": []map[string]any{{"name": "doc.txt", "url": f, "id": 1}}, "extra": map[string]any{"signType": 0, "signEncoding": 0}}}})
	require.NoError(t, err)
	e.open(t, "cryptoarm://signAndEncrypt/"+url.PathEscape(string(job)))
	sig := waitFile(t, filepath.Join(dir, "doc.txt.sig"))
	block, _ := pem.Decode(sig)
	require.NotNil(t, block, "BASE64 is PEM")
	rep, err := cms.Verify(block.Bytes, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, []byte("inline"), rep.Content)
}

// TestAttackLocalNamesOutsideFolder: names that would leave the uploader
// folder — traversal, absolute, with a separator — are refused before
// anything is signed or written, inside or outside the folder.
func TestAttackLocalNamesOutsideFolder(t *testing.T) {
	for _, name := range []string{"../escaped.txt", "/tmp/escaped.txt", "sub/escaped.txt", "..", "a\\..\\b"} {
		t.Run(name, func(t *testing.T) {
			e, l := localEnv(t)
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			require.NoError(t, os.MkdirAll(filepath.Join(out, "sub"), 0o700))
			src := filepath.Join(dir, "src.txt")
			require.NoError(t, os.WriteFile(src, []byte("x"), 0o600))
			e.open(t, localJob(t, dir, out, []map[string]any{{"name": name, "url": src, "id": 1}}, nil))
			l.wait(t, "cryptoarm job failed", "not a plain file name")
			entries, err := os.ReadDir(filepath.Join(out, "sub"))
			require.NoError(t, err)
			assert.Empty(t, entries)
			assert.NoFileExists(t, filepath.Join(dir, "escaped.txt.sig"))
			assert.NoFileExists(t, "/tmp/escaped.txt.sig")
			assert.Empty(t, e.h.Consent().QuestionsOf(plugintest.Sign), "nothing signed")
		})
	}
}

// TestAttackLocalSymlinks: an uploader folder that is a symbolic link is
// refused; a symbolic link inside the folder with the result's name is
// neither followed nor replaced (the result gets a new name).
func TestAttackLocalSymlinks(t *testing.T) {
	e, l := localEnv(t)
	dir := t.TempDir()
	real, victim := filepath.Join(dir, "real"), filepath.Join(dir, "victim")
	require.NoError(t, os.Mkdir(real, 0o700))
	require.NoError(t, os.Mkdir(victim, 0o700))
	require.NoError(t, os.Symlink(victim, filepath.Join(dir, "link")))
	src := filepath.Join(dir, "a.txt")
	require.NoError(t, os.WriteFile(src, []byte("a"), 0o600))

	e.open(t, localJob(t, dir, filepath.Join(dir, "link"), []map[string]any{{"name": "a.txt", "url": src, "id": 1}}, nil))
	l.wait(t, "cryptoarm job failed", "symbolic links are refused")
	entries, err := os.ReadDir(victim)
	require.NoError(t, err)
	assert.Empty(t, entries)

	target := filepath.Join(victim, "target")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o600))
	require.NoError(t, os.Symlink(target, filepath.Join(real, "a.txt.sig")))
	e.open(t, localJob(t, dir, real, []map[string]any{{"name": "a.txt", "url": src, "id": 1}}, nil))
	waitFile(t, filepath.Join(real, "a (1).txt.sig"))
	kept, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, "keep", string(kept), "the link's target was written")
}
