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
	} else if err != nil {
		t.Fatalf("run signet: %v", err)
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
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The default path comes from the data directory, so point XDG at
	// the test's directories (and keep any real config out of it).
	env := []string{
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"HOME=" + dir,
	}
	path := filepath.Join(dir, "data", "signet", "journal.jsonl")

	// No journal yet: list says so, verify fails.
	if code, out, _ := journalRun(t, bin, env, "journal", "list"); code != 0 || !strings.Contains(out, "nothing recorded yet") {
		t.Errorf("list without journal: exit %d, %q", code, out)
	}
	if code, _, errOut := journalRun(t, bin, env, "journal", "verify"); code != 1 || !strings.Contains(errOut, "no journal at") {
		t.Errorf("verify without journal: exit %d, %q", code, errOut)
	}

	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
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
		if _, err := j.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()

	code, out, errOut := journalRun(t, bin, env, "journal", "list")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	t.Logf("signet journal list:\n%s", out)
	for _, want := range []string{"SEQ", "EVIDENCE", "consent", "https://portal.example", "allowed (grant g1)", "invoice.pdf 1234B",
		"local: signet sign (uid 1000)", `"https://evil.example\x1b[2J"`,
		// Evidence as key=value pairs in key order; the grant id in short form.
		"eimzo.apikey=86F0C8A5E8D5E1B2 eimzo.host=portal.example", "allowed (grant 01234567…)",
		// An escape sequence in an evidence value is quoted, not sent to the terminal.
		`cryptoarm.cert="ab\x1b]0;pwned\a cd"`} {
		if !strings.Contains(out, want) {
			t.Errorf("list output lacks %q:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Error("list printed a raw escape character")
	}
	if strings.Contains(out, "0123456789abcdef0123") {
		t.Error("list printed the full grant id, not its short form")
	}

	code, out, _ = journalRun(t, bin, env, "journal", "list", "--json", "--path", path, "--op", "sign")
	var got []journal.Record
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil {
		t.Fatalf("list --json: exit %d, %v\n%s", code, err, out)
	}
	if len(got) != 2 || got[0].Seq != 2 || got[0].Documents[0].SHA256 != docs[0].SHA256 || got[1].Seq != 3 ||
		got[0].GrantID != "g1" || got[0].Evidence["eimzo.apikey"] != "86F0C8A5E8D5E1B2" {
		t.Errorf("list --json --op sign: %+v", got)
	}

	code, out, errOut = journalRun(t, bin, env, "journal", "verify")
	if code != 0 || !strings.Contains(out, "4 records, chain intact") || !strings.Contains(out, "head: 4:") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	anchor := strings.TrimSpace(out[strings.Index(out, "head: ")+len("head: "):])
	if code, out, errOut = journalRun(t, bin, env, "journal", "verify", "--anchor", anchor); code != 0 {
		t.Fatalf("verify --anchor %s: exit %d\n%s%s", anchor, code, out, errOut)
	}
	if code, _, errOut = journalRun(t, bin, env, "journal", "verify", "--anchor", "4:nothex"); code != 2 || !strings.Contains(errOut, "SEQ:HASH") {
		t.Errorf("bad --anchor: exit %d %s", code, errOut)
	}
	// The last record cut off: the chain is intact, the anchor is not.
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, full[:bytes.LastIndexByte(full[:len(full)-1], '\n')+1], 0o600)
	if code, out, errOut = journalRun(t, bin, env, "journal", "verify", "--anchor", anchor); code != 1 || !strings.Contains(errOut, "cut-off") {
		t.Errorf("verify --anchor after the last record was cut: exit %d\n%s%s", code, out, errOut)
	}
	os.WriteFile(path, full, 0o600)

	// Edit record 2 (deny → allow would be the interesting forgery; here the
	// grant is changed): verify must fail with exit 1 and name line/seq 2.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(data, []byte(`"grant_id":"g1"`), []byte(`"grant_id":"g2"`), 1)
	if bytes.Equal(edited, data) {
		t.Fatal("edit did not apply")
	}
	if err := os.WriteFile(path, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = journalRun(t, bin, env, "journal", "verify", "--path", path)
	if code != 1 {
		t.Fatalf("verify of edited journal: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("signet journal verify (edited):\n%s%s", out, errOut)
	if !strings.Contains(errOut, "line 2 (seq 2): edited") || !strings.Contains(out, "line 2 (seq 2): edited") {
		t.Errorf("verify does not name the edited record:\nstdout:\n%s\nstderr:\n%s", out, errOut)
	}

	// Remove a record instead: verify names the gap.
	lines := bytes.SplitAfter(data, []byte("\n"))
	removed := bytes.Join(append(lines[:2:2], lines[3:]...), nil)
	if err := os.WriteFile(path, removed, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = journalRun(t, bin, env, "journal", "verify", "--json")
	var rep struct {
		OK       bool
		Problems []journal.Problem
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.OK {
		t.Fatalf("verify --json of journal with a removed record: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != journal.Removed || rep.Problems[0].Line != 3 || rep.Problems[0].Seq != 4 {
		t.Errorf("problems: %+v", rep.Problems)
	}
}
