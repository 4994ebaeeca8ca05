package e2e

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, err)
	pfxPath := filepath.Join(dir, "keys", "journal.pfx")
	require.NoError(t, soft.WritePFX(pfxPath, pfxPass, softhsmtest.Modern))
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
		require.Contains(t, s.uri, "token="+tokenLabel, "key is not on the %s token", tokenLabel)
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
			require.Equal(t, http.StatusOK, status, "sign %s: %s", s.uri, body)
			opts := crypto.Hash(crypto.SHA256)
			if strings.Contains(s.uri, "ed25519") {
				opts = crypto.Hash(0)
			}
			require.NoError(t, softhsmtest.VerifySignature(s.pub, sum[:], sig, opts), "signature by %s", s.uri)
			ok = append(ok, signed{id, s.uri, s.serial, sum[:]})
		}
	}

	// A refusal: an origin on the administrator's deny list. The plugin
	// knows the key's algorithm already, so this reaches the host's Sign.
	deniedSum := sha256.Sum256([]byte("denied"))
	status, _, body := signAs(t, c, addr, denied, signers[1].uri, deniedSum[:], "journal-denied", nil)
	require.Equal(t, http.StatusForbidden, status, "denied origin: %s", body)
	// A failure: an unknown key.
	unknownURI := "pkcs11:token=" + tokenLabel + ";object=no-such-key;type=private"
	unknownSum := sha256.Sum256([]byte("unknown"))
	status, _, body = signAs(t, c, addr, portal, unknownURI, unknownSum[:], "journal-unknown", nil)
	require.Equal(t, http.StatusNotFound, status, "unknown key: %s", body)
	// A failure in the key store: the PIN source holds a wrong PIN.
	wrongURI := keyOnToken(t, keys, wrongTok.Label)
	wrongSum := sha256.Sum256([]byte("wrong pin"))
	status, _, body = signAs(t, c, addr, portal, wrongURI, wrongSum[:], "journal-wrong-pin", nil)
	require.Equal(t, http.StatusUnauthorized, status, "wrong PIN: %s", body)

	// Stop the agent so that the journal is complete and closed.
	a.stop()
	path := journal.PathIn(a.dataDir())
	rep, err := journal.VerifyFile(path)
	require.NoError(t, err)
	require.True(t, rep.OK(), "journal of a clean run does not verify: %+v", rep.Problems)
	recs, err := journal.ReadFile(path, journal.Filter{})
	require.NoError(t, err)
	require.NotEmpty(t, recs, "journal records")
	require.Equal(t, len(recs), rep.Records, "records seen by verify and by list")
	byID := map[string][]journal.Record{}
	okOutcomes := 0
	for _, r := range recs {
		byID[r.RequestID] = append(byID[r.RequestID], r)
		if r.Op == journal.OpSign && r.Result == journal.ResultOK {
			okOutcomes++
		}
	}
	assert.Equal(t, len(ok), okOutcomes, "sign records with result ok (one per signature)")
	// Every sign record belongs to a request this test made.
	known := map[string]bool{"journal-denied": true, "journal-wrong-pin": true}
	for _, s := range ok {
		known[s.id] = true
	}
	for _, r := range recs {
		if r.Op == journal.OpSign {
			assert.True(t, known[r.RequestID], "sign record seq %d for a request this test did not make: %+v", r.Seq, r)
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
		if !assert.Len(t, sign, 1, "%s: sign records, want 1 (decision and outcome): %+v", s.id, byID[s.id]) {
			continue
		}
		r := sign[0]
		assert.Equal(t, journal.DecisionAllowed, r.Decision, "%s: decision", s.id)
		assert.Equal(t, journal.ByPolicy, r.DecidedBy, "%s: decided by", s.id)
		assert.Equal(t, journal.ResultOK, r.Result, "%s: result (%s %s)", s.id, r.ErrorKind, r.Error)
		assert.Equal(t, s.uri, r.KeyURI, "%s seq %d: key", s.id, r.Seq)
		want := hex.EncodeToString(s.digest)
		if assert.Len(t, r.Documents, 1, "%s seq %d: documents", s.id, r.Seq) {
			assert.Equal(t, want, r.Documents[0].SHA256, "%s seq %d: document SHA-256", s.id, r.Seq)
		}
		assert.Equal(t, "example", r.Plugin, "%s seq %d: plugin", s.id, r.Seq)
		assert.Equal(t, portal, r.Origin, "%s seq %d: origin", s.id, r.Seq)
		// No one was asked, so the serial comes from the key store's cache
		// of the key it just used (hsm.KeyCache), not from a token listing.
		assert.Equal(t, s.serial, r.CertSerial, "%s: certificate serial", s.id)
	}

	// The refusal: decided by the administrator's list, no outcome.
	refusal := byID["journal-denied"]
	require.Len(t, refusal, 1, "denied request: want 1 decision: %+v", refusal)
	r := refusal[0]
	assert.Equal(t, journal.OpSign, r.Op, "denied request: op")
	assert.Equal(t, journal.DecisionDenied, r.Decision, "denied request: decision")
	assert.Equal(t, journal.ByAdmin, r.DecidedBy, "denied request: decided by")
	assert.Equal(t, "denied", r.ErrorKind, "denied request: error kind")
	assert.Equal(t, denied, r.Origin, "denied request: origin")
	assert.Equal(t, signers[1].uri, r.KeyURI, "denied request: key")
	assert.Empty(t, r.Result, "denied request: result")
	if assert.Len(t, r.Documents, 1, "denied request: documents") {
		assert.Equal(t, hex.EncodeToString(deniedSum[:]), r.Documents[0].SHA256, "denied request: document SHA-256")
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
	if assert.NotNil(t, wrongOutcome, "wrong PIN: no outcome record: %+v", byID["journal-wrong-pin"]) {
		assert.Equal(t, journal.ResultError, wrongOutcome.Result, "wrong PIN: result")
		assert.Equal(t, "pin-incorrect", wrongOutcome.ErrorKind, "wrong PIN: error kind")
		assert.Equal(t, wrongURI, wrongOutcome.KeyURI, "wrong PIN: key")
		assert.Equal(t, journal.DecisionAllowed, wrongOutcome.Decision, "wrong PIN: decision")
		assert.Equal(t, journal.ByPolicy, wrongOutcome.DecidedBy, "wrong PIN: decided by")
	}

	// Edit one byte of a record (a digit of its request id) in a copy: the
	// real CLI must exit 1 and name the line.
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	out, err := exec.Command(filepath.Join(binDir, "signet"), "journal", "verify", "--path", path).CombinedOutput()
	require.NoError(t, err, "signet journal verify on the untouched journal\n%s", out)
	lines := bytes.SplitAfter(data, []byte("\n"))
	target := -1
	for i, l := range lines {
		if bytes.Contains(l, []byte(`"request_id":"journal-ok-1-1"`)) {
			target = i
			break
		}
	}
	require.GreaterOrEqual(t, target, 0, "no line with request id journal-ok-1-1")
	off := bytes.Index(lines[target], []byte("journal-ok-1-1")) + len("journal-ok-1-")
	lines[target][off] = '7' // journal-ok-1-1 → journal-ok-1-7
	edited := filepath.Join(dir, "edited.jsonl")
	require.NoError(t, os.WriteFile(edited, bytes.Join(lines, nil), 0o600))
	require.Len(t, bytes.Join(lines, nil), len(data), "edit changed the file's length")
	out, err = exec.Command(filepath.Join(binDir, "signet"), "journal", "verify", "--path", edited).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "signet journal verify on an edited journal\n%s", out)
	require.Equal(t, 1, ee.ExitCode(), "signet journal verify on an edited journal: exit status\n%s", out)
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
		require.NoError(t, err)
		found := false
		for _, p := range rep.Problems {
			found = found || slices.Contains(tc.want, p.Kind)
		}
		assert.False(t, rep.OK(), "%s record: journal verifies", tc.name)
		assert.True(t, found, "%s record: problems %+v, want one of %v", tc.name, rep.Problems, tc.want)
	}

	t.Logf("signet journal verify on the edited copy (exit 1):\n%s", out)
	line := fmt.Sprintf("line %d", target+1)
	assert.Regexp(t, `\b`+line+`\b`, string(out), "signet journal verify output does not name the line")
	assert.Contains(t, string(out), string(journal.Edited), "signet journal verify output does not name the problem")
}

// checkUnknownKey checks what the journal says about a request for a key
// that does not exist. The example plugin looks the key up (ListKeys with
// the key URI) before signing, so the host's Sign is never reached: the
// journal holds the policy's decision on that lookup, with the key URI and
// the digest, then the lookup's failure (key not found), and no signature.
func checkUnknownKey(t *testing.T, recs []journal.Record, uri string, digest []byte) {
	t.Helper()
	if !assert.NotEmpty(t, recs, "unknown key %s: no journal record", uri) {
		return
	}
	for _, r := range recs {
		assert.Equal(t, uri, r.KeyURI, "unknown key: record seq %d key", r.Seq)
		assert.NotEqual(t, journal.ResultOK, r.Result, "unknown key: record seq %d says ok: %+v", r.Seq, r)
		if r.Op == journal.OpSign && r.Result == "" {
			assert.NotEmpty(t, r.Decision, "unknown key: sign record seq %d with neither decision nor result", r.Seq)
		}
		if assert.Len(t, r.Documents, 1, "unknown key: record seq %d documents", r.Seq) {
			assert.Equal(t, hex.EncodeToString(digest), r.Documents[0].SHA256, "unknown key: record seq %d document SHA-256", r.Seq)
		}
	}
	// The failed lookup is recorded, and says the key was not found.
	failures := 0
	for _, r := range recs {
		if r.Result == journal.ResultError {
			failures++
			assert.Equal(t, "key-not-found", r.ErrorKind, "unknown key: failure recorded as (%s)", r.Error)
		}
	}
	assert.NotZero(t, failures, "unknown key: the failed lookup has no outcome record: %+v", recs)
}
