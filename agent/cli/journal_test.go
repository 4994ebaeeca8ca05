package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// journalRun runs the signet binary bin with env added to the environment
// and returns its exit code and output.
func journalRun(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err, "run signet")
	}
	return code, so.String(), se.String()
}

// TestJournalCommands builds the real binary, writes records through the
// journal package, lists and verifies them with `signet journal`, then edits
// the file and checks that verify fails with exit status 1 naming the record.
func TestJournalCommands(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "signet")
	build := exec.Command("go", "build", "-o", bin, "github.com/signet-agent/signet/agent/cmd/signet")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	buildOut, err := build.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", buildOut)
	// The default path comes from the data directory, so point XDG at
	// the test's directories (and keep any real config out of it).
	env := []string{
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"HOME=" + dir,
	}
	path := filepath.Join(dir, "data", "signet", "journal.jsonl")

	// No journal yet: list says so, verify fails.
	code, out, _ := journalRun(t, bin, env, "journal", "list")
	assert.Equal(t, 0, code, "list without journal: exit")
	assert.Contains(t, out, "nothing recorded yet", "list without journal")
	code, _, errOut := journalRun(t, bin, env, "journal", "verify")
	assert.Equal(t, 1, code, "verify without journal: exit")
	assert.Contains(t, errOut, "no journal at", "verify without journal")

	j, err := journal.Open(path)
	require.NoError(t, err)
	docs := []journal.Document{{Name: "invoice.pdf", Size: 1234, SHA256: strings.Repeat("ab", 32)}}
	recs := []journal.Record{
		{Op: journal.OpConsent, Plugin: "eimzo", Origin: "https://portal.example", Decision: journal.DecisionAllowed, DecidedBy: journal.ByUser},
		{Op: journal.OpSign, Plugin: "eimzo", Origin: "https://portal.example", KeyURI: "pkcs11:token=T;object=k1", CertSerial: "01ab",
			Documents: docs, Decision: journal.DecisionAllowed, DecidedBy: journal.ByGrant, GrantID: "g1", Result: journal.ResultOK,
			Evidence: map[string]string{"eimzo.apikey": "86F0C8A5E8D5E1B2", "eimzo.host": "portal.example"}},
		{Op: journal.OpSign, Plugin: "cipher", Origin: "https://evil.example\x1b[2J", Decision: journal.DecisionDenied, DecidedBy: journal.ByAdmin,
			Result: journal.ResultError, ErrorKind: "denied", Error: "denied", Evidence: map[string]string{"cryptoarm.cert": "ab\x1b]0;pwned\x07 cd"}},
		{Op: journal.OpDecrypt, Caller: "signet sign (uid 1000)", KeyURI: "pkcs11:token=T;object=k2", Result: journal.ResultOK,
			Decision: journal.DecisionAllowed, DecidedBy: journal.ByGrant, GrantID: "0123456789abcdef0123456789abcdef"},
	}
	for _, r := range recs {
		_, err := j.Append(context.Background(), r)
		require.NoError(t, err)
	}
	j.Close()

	code, out, errOut = journalRun(t, bin, env, "journal", "list")
	require.Equal(t, 0, code, "list: exit; stderr: %s", errOut)
	t.Logf("signet journal list:\n%s", out)
	for _, want := range []string{"SEQ", "EVIDENCE", "consent", "https://portal.example", "allowed (grant g1)", "invoice.pdf 1234B",
		"local: signet sign (uid 1000)", `"https://evil.example\x1b[2J"`,
		// Evidence as key=value pairs in key order; the grant id in short form.
		"eimzo.apikey=86F0C8A5E8D5E1B2 eimzo.host=portal.example", "allowed (grant 01234567…)",
		// An escape sequence in an evidence value is quoted, not sent to the terminal.
		`cryptoarm.cert="ab\x1b]0;pwned\a cd"`} {
		assert.Contains(t, out, want, "list output")
	}
	assert.NotContains(t, out, "\x1b", "list printed a raw escape character")
	assert.NotContains(t, out, "\x07", "list printed a raw bell character")
	assert.NotContains(t, out, "0123456789abcdef0123", "list printed the full grant id, not its short form")

	code, out, _ = journalRun(t, bin, env, "journal", "list", "--json", "--path", path, "--op", "sign")
	var got []journal.Record
	require.Equal(t, 0, code, "list --json: exit\n%s", out)
	require.NoError(t, json.Unmarshal([]byte(out), &got), "list --json\n%s", out)
	if assert.Len(t, got, 2, "list --json --op sign: %+v", got) {
		assert.EqualValues(t, 2, got[0].Seq, "first sign record")
		assert.EqualValues(t, 3, got[1].Seq, "second sign record")
		assert.Equal(t, "g1", got[0].GrantID, "first sign record grant")
		assert.Equal(t, "86F0C8A5E8D5E1B2", got[0].Evidence["eimzo.apikey"], "first sign record evidence")
		if assert.Len(t, got[0].Documents, 1, "first sign record documents") {
			assert.Equal(t, docs[0].SHA256, got[0].Documents[0].SHA256, "first sign record document hash")
		}
	}

	code, out, errOut = journalRun(t, bin, env, "journal", "verify")
	require.Equal(t, 0, code, "verify: exit\n%s%s", out, errOut)
	require.Contains(t, out, "4 records, chain intact", "verify")
	require.Contains(t, out, "head: 4:", "verify")
	anchor := strings.TrimSpace(out[strings.Index(out, "head: ")+len("head: "):])
	code, out, errOut = journalRun(t, bin, env, "journal", "verify", "--anchor", anchor)
	require.Equal(t, 0, code, "verify --anchor %s: exit\n%s%s", anchor, out, errOut)
	code, _, errOut = journalRun(t, bin, env, "journal", "verify", "--anchor", "4:nothex")
	assert.Equal(t, 2, code, "bad --anchor: exit")
	assert.Contains(t, errOut, "SEQ:HASH", "bad --anchor")
	// The last record cut off: the chain is intact, the anchor is not.
	full, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, full[:bytes.LastIndexByte(full[:len(full)-1], '\n')+1], 0o600))
	code, out, errOut = journalRun(t, bin, env, "journal", "verify", "--anchor", anchor)
	assert.Equal(t, 1, code, "verify --anchor after the last record was cut: exit\n%s%s", out, errOut)
	assert.Contains(t, errOut, "cut-off", "verify --anchor after the last record was cut")
	require.NoError(t, os.WriteFile(path, full, 0o600))

	// Edit record 2 (deny → allow would be the interesting forgery; here the
	// grant is changed): verify must fail with exit 1 and name line/seq 2.
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	edited := bytes.Replace(data, []byte(`"grant_id":"g1"`), []byte(`"grant_id":"g2"`), 1)
	require.NotEqual(t, data, edited, "edit did not apply")
	require.NoError(t, os.WriteFile(path, edited, 0o600))
	code, out, errOut = journalRun(t, bin, env, "journal", "verify", "--path", path)
	require.Equal(t, 1, code, "verify of edited journal: exit\n%s%s", out, errOut)
	t.Logf("signet journal verify (edited):\n%s%s", out, errOut)
	assert.Contains(t, errOut, "line 2 (seq 2): edited", "verify does not name the edited record on stderr")
	assert.Contains(t, out, "line 2 (seq 2): edited", "verify does not name the edited record on stdout")

	// Remove a record instead: verify names the gap.
	lines := bytes.SplitAfter(data, []byte("\n"))
	removed := bytes.Join(append(lines[:2:2], lines[3:]...), nil)
	require.NoError(t, os.WriteFile(path, removed, 0o600))
	code, out, errOut = journalRun(t, bin, env, "journal", "verify", "--json")
	var rep struct {
		OK       bool
		Problems []journal.Problem
	}
	require.Equal(t, 1, code, "verify --json of journal with a removed record: exit\n%s%s", out, errOut)
	require.NoError(t, json.Unmarshal([]byte(out), &rep), "verify --json of journal with a removed record\n%s", out)
	require.False(t, rep.OK, "verify --json of journal with a removed record reports OK")
	if assert.Len(t, rep.Problems, 1, "problems: %+v", rep.Problems) {
		p := rep.Problems[0]
		assert.Equal(t, journal.Removed, p.Kind, "problem %+v", p)
		assert.EqualValues(t, 3, p.Line, "problem %+v", p)
		assert.EqualValues(t, 4, p.Seq, "problem %+v", p)
	}
}
