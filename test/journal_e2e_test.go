package e2e

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/softhsm-config/softhsmtest"
)

// TestJournalRecordsEverySignature runs the agent with the example plugin,
// signs with RSA, ECDSA and Ed25519 keys on a SoftHSM token and with a PFX
// key, makes one request from an origin the administrator denies, one with
// an unknown key and one with a token whose PIN source holds a wrong PIN,
// stops the agent and checks the journal it wrote: the chain verifies, every
// signature has one record with the policy's decision and the outcome, the
// key URI and the digest the client sent, the refusal and the failures are recorded with
// the right decision and error kind. Then one byte of a record is edited and
// the real `signet journal verify` must exit 1 naming the line.
func TestJournalRecordsEverySignature(t *testing.T) {
	dir := t.TempDir()
	const (
		portal  = "https://portal.example"
		denied  = "https://denied.example"
		pfxPass = "journal-pfx-pass"
	)

	// A PFX key and its password file.
	soft, err := softhsmtest.NewSoftwareKey(softhsmtest.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	pfxPath := filepath.Join(dir, "keys", "journal.pfx")
	if err := soft.WritePFX(pfxPath, pfxPass, softhsmtest.Modern); err != nil {
		t.Fatal(err)
	}
	// A token whose PIN source gives a wrong PIN.
	wrongTok, _ := secretToken(t, "h14-journal-wrong", "6402-right", "6402-so")
	pinFile, pfxFile, wrongFile := filepath.Join(dir, "pin"), filepath.Join(dir, "pfx-pass"), filepath.Join(dir, "wrong-pin")
	writeSecret(t, pinFile, fixture.UserPIN)
	writeSecret(t, pfxFile, pfxPass)
	writeSecret(t, wrongFile, "6402-wrong")

	a := startAgentWith(t, agentSetup{
		PFXFiles: []string{pfxPath},
		Deny:     []string{denied},
		PINSources: []pinSource{
			{Token: "pkcs11:token=" + tokenLabel, File: pinFile},
			{Token: pfx.FileURI(pfxPath), File: pfxFile},
			{Token: "pkcs11:token=" + wrongTok.Label, File: wrongFile},
		},
	})
	c := a.client()
	addr := exampleAddr(t, a.plugin("example"))
	keys := listKeys(t, c, addr, nil)

	type signer struct {
		uri    string
		pub    crypto.PublicKey
		serial string // of the key's certificate, as the journal writes it
	}
	signers := []signer{
		{findKey(t, keys, "pkcs11:", softhsmtest.KeyRSA), fixture.Keys[softhsmtest.KeyRSA].Public, fixture.Keys[softhsmtest.KeyRSA].Certificate.SerialNumber.Text(16)},
		{findKey(t, keys, "pkcs11:", softhsmtest.KeyECDSA), fixture.Keys[softhsmtest.KeyECDSA].Public, fixture.Keys[softhsmtest.KeyECDSA].Certificate.SerialNumber.Text(16)},
		{findKey(t, keys, "pkcs11:", softhsmtest.KeyEd25519), fixture.Keys[softhsmtest.KeyEd25519].Public, fixture.Keys[softhsmtest.KeyEd25519].Certificate.SerialNumber.Text(16)},
		{findKey(t, keys, pfx.FileURI(pfxPath)+"#", ""), soft.Key.Public(), soft.Certificate.SerialNumber.Text(16)},
	}
	for _, s := range signers[:3] {
		if !strings.Contains(s.uri, "token="+tokenLabel) {
			t.Fatalf("key %s is not on the %s token", s.uri, tokenLabel)
		}
	}

	// Successful signatures: two per key, each with its own digest.
	type signed struct {
		id, uri, serial string
		digest          []byte
	}
	var ok []signed
	for i, s := range signers {
		for j := 0; j < 2; j++ {
			sum := sha256.Sum256([]byte(fmt.Sprintf("document %d/%d", i, j)))
			id := fmt.Sprintf("journal-ok-%d-%d", i, j)
			status, sig, body := signAs(t, c, addr, portal, s.uri, sum[:], id, nil)
			if status != http.StatusOK {
				t.Fatalf("sign %s: %d %s", s.uri, status, body)
			}
			opts := crypto.Hash(crypto.SHA256)
			if strings.Contains(s.uri, "ed25519") {
				opts = crypto.Hash(0)
			}
			if err := softhsmtest.VerifySignature(s.pub, sum[:], sig, opts); err != nil {
				t.Fatalf("signature by %s: %v", s.uri, err)
			}
			ok = append(ok, signed{id, s.uri, s.serial, sum[:]})
		}
	}

	// A refusal: an origin on the administrator's deny list. The plugin
	// knows the key's algorithm already, so this reaches the host's Sign.
	deniedSum := sha256.Sum256([]byte("denied"))
	if status, _, body := signAs(t, c, addr, denied, signers[1].uri, deniedSum[:], "journal-denied", nil); status != http.StatusForbidden {
		t.Fatalf("denied origin: %d %s, want 403", status, body)
	}
	// A failure: an unknown key.
	unknownURI := "pkcs11:token=" + tokenLabel + ";object=no-such-key;type=private"
	unknownSum := sha256.Sum256([]byte("unknown"))
	if status, _, body := signAs(t, c, addr, portal, unknownURI, unknownSum[:], "journal-unknown", nil); status != http.StatusNotFound {
		t.Fatalf("unknown key: %d %s, want 404", status, body)
	}
	// A failure in the key store: the PIN source holds a wrong PIN.
	wrongURI := keyOnToken(t, keys, wrongTok.Label)
	wrongSum := sha256.Sum256([]byte("wrong pin"))
	if status, _, body := signAs(t, c, addr, portal, wrongURI, wrongSum[:], "journal-wrong-pin", nil); status != http.StatusUnauthorized {
		t.Fatalf("wrong PIN: %d %s, want 401", status, body)
	}

	// Stop the agent so that the journal is complete and closed.
	a.stop()
	path := journal.PathIn(a.dataDir())
	rep, err := journal.VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("journal of a clean run does not verify: %+v", rep.Problems)
	}
	recs, err := journal.ReadFile(path, journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != len(recs) || len(recs) == 0 {
		t.Fatalf("verify saw %d records, list %d", rep.Records, len(recs))
	}
	byID := map[string][]journal.Record{}
	okOutcomes := 0
	for _, r := range recs {
		byID[r.RequestID] = append(byID[r.RequestID], r)
		if r.Op == journal.OpSign && r.Result == journal.ResultOK {
			okOutcomes++
		}
	}
	if okOutcomes != len(ok) {
		t.Errorf("%d sign records with result ok, want %d (one per signature)", okOutcomes, len(ok))
	}
	// Every sign record belongs to a request this test made.
	known := map[string]bool{"journal-denied": true, "journal-wrong-pin": true}
	for _, s := range ok {
		known[s.id] = true
	}
	for _, r := range recs {
		if r.Op == journal.OpSign && !known[r.RequestID] {
			t.Errorf("sign record seq %d for a request this test did not make: %+v", r.Seq, r)
		}
	}
	for _, s := range ok {
		// The unattended policy asked no one, so the decision is journaled
		// with the outcome, in one record written before the signature
		// left the agent.
		var sign []journal.Record
		for _, r := range byID[s.id] {
			if r.Op == journal.OpSign {
				sign = append(sign, r)
			}
		}
		if len(sign) != 1 {
			t.Errorf("%s: %d sign records, want 1 (decision and outcome): %+v", s.id, len(sign), byID[s.id])
			continue
		}
		r := sign[0]
		if r.Decision != journal.DecisionAllowed || r.DecidedBy != journal.ByPolicy || r.Result != journal.ResultOK {
			t.Errorf("%s: decision %q by %q, result %q (%s %s); want allowed by policy, ok", s.id, r.Decision, r.DecidedBy, r.Result, r.ErrorKind, r.Error)
		}
		if r.KeyURI != s.uri {
			t.Errorf("%s seq %d: key %q, want %q", s.id, r.Seq, r.KeyURI, s.uri)
		}
		want := hex.EncodeToString(s.digest)
		if len(r.Documents) != 1 || r.Documents[0].SHA256 != want {
			t.Errorf("%s seq %d: documents %+v, want one with SHA-256 %s", s.id, r.Seq, r.Documents, want)
		}
		if r.Plugin != "example" || r.Origin != portal {
			t.Errorf("%s seq %d: plugin %q origin %q", s.id, r.Seq, r.Plugin, r.Origin)
		}
		// No one was asked, so the serial comes from the key store's cache
		// of the key it just used (hsm.KeyCache), not from a token listing.
		if r.CertSerial != s.serial {
			t.Errorf("%s: certificate serial %q, want %q", s.id, r.CertSerial, s.serial)
		}
	}

	// The refusal: decided by the administrator's list, no outcome.
	refusal := byID["journal-denied"]
	if len(refusal) != 1 {
		t.Fatalf("denied request: %d records, want 1 decision: %+v", len(refusal), refusal)
	}
	if r := refusal[0]; r.Op != journal.OpSign || r.Decision != journal.DecisionDenied || r.DecidedBy != journal.ByAdmin ||
		r.ErrorKind != "denied" || r.Origin != denied || r.KeyURI != signers[1].uri || r.Result != "" ||
		len(r.Documents) != 1 || r.Documents[0].SHA256 != hex.EncodeToString(deniedSum[:]) {
		t.Errorf("denied request recorded as %+v", r)
	}

	// The unknown key.
	checkUnknownKey(t, byID["journal-unknown"], unknownURI, unknownSum[:])

	// The wrong PIN: allowed by the policy and failed with pin-incorrect,
	// in one record.
	var wrongOutcome *journal.Record
	for i, r := range byID["journal-wrong-pin"] {
		if r.Op == journal.OpSign && r.Result != "" {
			wrongOutcome = &byID["journal-wrong-pin"][i]
		}
	}
	if wrongOutcome == nil {
		t.Errorf("wrong PIN: no outcome record: %+v", byID["journal-wrong-pin"])
	} else if wrongOutcome.Result != journal.ResultError || wrongOutcome.ErrorKind != "pin-incorrect" || wrongOutcome.KeyURI != wrongURI ||
		wrongOutcome.Decision != journal.DecisionAllowed || wrongOutcome.DecidedBy != journal.ByPolicy {
		t.Errorf("wrong PIN recorded as %+v", *wrongOutcome)
	}

	// Edit one byte of a record (a digit of its request id) in a copy: the
	// real CLI must exit 1 and name the line.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(binDir, "signet"), "journal", "verify", "--path", path).CombinedOutput(); err != nil {
		t.Fatalf("signet journal verify on the untouched journal: %v\n%s", err, out)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	target := -1
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"request_id":"journal-ok-1-1"`)) {
			target = i
			break
		}
	}
	if target < 0 {
		t.Fatal("no line with request id journal-ok-1-1")
	}
	off := bytes.Index(lines[target], []byte("journal-ok-1-1")) + len("journal-ok-1-")
	lines[target][off] = '7' // journal-ok-1-1 → journal-ok-1-7
	edited := filepath.Join(dir, "edited.jsonl")
	if err := os.WriteFile(edited, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(bytes.Join(lines, nil)) != len(data) {
		t.Fatal("edit changed the file's length")
	}
	out, err := exec.Command(filepath.Join(binDir, "signet"), "journal", "verify", "--path", edited).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("signet journal verify on an edited journal: %v, want exit status 1\n%s", err, out)
	}
	// Removing a record and swapping two are detected too.
	for _, tc := range []struct {
		name   string
		change func([][]byte) [][]byte
		want   []journal.ProblemKind
	}{
		{"removed", func(l [][]byte) [][]byte { return append(l[:4:4], l[5:]...) }, []journal.ProblemKind{journal.Removed}},
		{"swapped", func(l [][]byte) [][]byte {
			c := append([][]byte(nil), l...)
			c[4], c[5] = c[5], c[4]
			return c
		}, []journal.ProblemKind{journal.Reordered}},
	} {
		orig := bytes.SplitAfter(data, []byte("\n"))
		rep, err := journal.Verify(bytes.NewReader(bytes.Join(tc.change(orig), nil)))
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range rep.Problems {
			found = found || slices.Contains(tc.want, p.Kind)
		}
		if rep.OK() || !found {
			t.Errorf("%s record: problems %+v, want one of %v", tc.name, rep.Problems, tc.want)
		}
	}

	t.Logf("signet journal verify on the edited copy (exit 1):\n%s", out)
	line := fmt.Sprintf("line %d", target+1)
	if !regexp.MustCompile(`\b`+line+`\b`).Match(out) || !strings.Contains(string(out), string(journal.Edited)) {
		t.Errorf("signet journal verify output does not name %q as %s:\n%s", line, journal.Edited, out)
	}
}

// checkUnknownKey checks what the journal says about a request for a key
// that does not exist. The example plugin looks the key up (ListKeys with
// the key URI) before signing, so the host's Sign is never reached: the
// journal holds the policy's decision on that lookup, with the key URI and
// the digest, then the lookup's failure (key not found), and no signature.
func checkUnknownKey(t *testing.T, recs []journal.Record, uri string, digest []byte) {
	t.Helper()
	if len(recs) == 0 {
		t.Errorf("unknown key %s: no journal record", uri)
		return
	}
	for _, r := range recs {
		if r.KeyURI != uri {
			t.Errorf("unknown key: record seq %d has key %q, want %q", r.Seq, r.KeyURI, uri)
		}
		if r.Result == journal.ResultOK {
			t.Errorf("unknown key: record seq %d says ok: %+v", r.Seq, r)
		}
		if r.Op == journal.OpSign && r.Result == "" && r.Decision == "" {
			t.Errorf("unknown key: sign record seq %d with neither decision nor result", r.Seq)
		}
		if len(r.Documents) != 1 || r.Documents[0].SHA256 != hex.EncodeToString(digest) {
			t.Errorf("unknown key: record seq %d documents %+v", r.Seq, r.Documents)
		}
	}
	// The failed lookup is recorded, and says the key was not found.
	failures := 0
	for _, r := range recs {
		if r.Result == journal.ResultError {
			failures++
			if r.ErrorKind != "key-not-found" {
				t.Errorf("unknown key: failure recorded as %q (%s), want key-not-found", r.ErrorKind, r.Error)
			}
		}
	}
	if failures == 0 {
		t.Errorf("unknown key: the failed lookup has no outcome record: %+v", recs)
	}
}
