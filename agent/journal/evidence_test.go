package journal

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goldenRecord is a record without evidence, as written before Evidence
// existed.
func goldenRecord() Record {
	return Record{
		Seq: 7, Time: time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC),
		Plugin: "cipher", Origin: "https://portal.example", RequestID: "r1", Op: OpSign,
		Summary: "Invoice 42", KeyURI: "pkcs11:token=t;object=k", CertSerial: "1f",
		Documents: []Document{{Name: "a.pdf", Size: 3, SHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}},
		Decision:  DecisionAllowed, DecidedBy: ByGrant, GrantID: "g1", Result: ResultOK,
		PrevHash: Genesis,
	}
}

// The hash of a record without evidence is the one computed before the
// field existed (value recorded from the encoder of commit 24f12eb), so
// journals written then still verify.
func TestHashWithoutEvidenceUnchanged(t *testing.T) {
	const before = "897628bbb16634eff163b1de7e53cf00974c4bfc5eda58478ff47315ba4515b2"
	r := goldenRecord()
	r.normalize()
	require.Equal(t, before, r.ComputeHash(), "hash of a record without evidence changed")
	r.Evidence = map[string]string{}
	require.Equal(t, before, r.ComputeHash(), "empty evidence changes the hash")
	r.Evidence = map[string]string{"apikey": "x"}
	require.NotEqual(t, before, r.ComputeHash(), "evidence is not covered by the hash")
}

func TestEvidenceRoundTrip(t *testing.T) {
	j, path := openTemp(t)
	appendN(t, j, 1, 2) // records without evidence before and after
	r := sampleRecord(3)
	r.Evidence = map[string]string{
		"eimzo.apikey":                 "86F0C8A5E8D5E1B2",
		"cryptoarm.pinned":             "sha256/0a1b2c",
		"html":                         `<script>alert(1)</script>`,
		"bad\xffkey":                   "bad\xffvalue",
		strings.Repeat("k", 100) + "1": "long key",
		strings.Repeat("k", 100) + "2": "same key once clipped",
		"big":                          strings.Repeat("v", 5000),
		"":                             "empty key dropped",
	}
	caller := map[string]string{}
	for k, v := range r.Evidence {
		caller[k] = v
	}
	got, err := j.Append(context.Background(), r)
	require.NoError(t, err)
	appendN(t, j, 4, 1)
	assert.Equal(t, caller, r.Evidence, "Append modified the caller's evidence map")
	assert.Equal(t, "86F0C8A5E8D5E1B2", got.Evidence["eimzo.apikey"], "evidence not kept as given")
	assert.Equal(t, `<script>alert(1)</script>`, got.Evidence["html"], "evidence not kept as given")
	if assert.Contains(t, got.Evidence, "bad\uFFFDkey", "invalid UTF-8 not replaced") {
		assert.Equal(t, "bad\uFFFDvalue", got.Evidence["bad\uFFFDkey"], "invalid UTF-8 not replaced")
	}
	assert.LessOrEqual(t, len(got.Evidence["big"]), maxField, "evidence value kept whole")
	assert.NotContains(t, got.Evidence, "", "empty evidence key kept")
	long := 0
	for k := range got.Evidence {
		assert.LessOrEqual(t, len(k), maxEvidenceKey, "evidence key kept whole")
		if strings.HasPrefix(k, "kkkk") {
			long++
		}
	}
	assert.Equal(t, 1, long, "clipped long keys (the second clips to the same key)")
	requireVerified(t, path, 4)
	recs, err := ReadFile(path, Filter{})
	require.NoError(t, err)
	assert.Equal(t, got, recs[2], "record read back differs")
	assert.Nil(t, recs[0].Evidence, "records without evidence read back with some")
	assert.Nil(t, recs[3].Evidence, "records without evidence read back with some")
}

func TestEvidenceBounded(t *testing.T) {
	r := sampleRecord(1)
	r.Evidence = map[string]string{}
	for i := range MaxEvidence + 10 {
		r.Evidence[fmt.Sprintf("k%02d", i)] = "v"
	}
	r.normalize()
	require.Len(t, r.Evidence, MaxEvidence, "evidence entries kept")
	for i := range MaxEvidence {
		assert.Contains(t, r.Evidence, fmt.Sprintf("k%02d", i), "the first %d keys in order are kept", MaxEvidence)
	}
}

func TestEvidenceTamperDetected(t *testing.T) {
	cases := []struct {
		name string
		edit func([]byte) []byte
	}{
		{"value changed", func(l []byte) []byte {
			return bytes.Replace(l, []byte(`"sha256/0a1b2c"`), []byte(`"sha256/ffffff"`), 1)
		}},
		{"entry removed", func(l []byte) []byte {
			return bytes.Replace(l, []byte(`"cryptoarm.pinned":"sha256/0a1b2c",`), nil, 1)
		}},
		{"evidence removed", func(l []byte) []byte {
			i := bytes.Index(l, []byte(`"evidence":{`))
			k := bytes.Index(l[i:], []byte(`},`))
			return append(append([]byte{}, l[:i]...), l[i+k+2:]...)
		}},
		{"evidence added to a record without", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j, path := openTemp(t)
			appendN(t, j, 1, 1)
			r := sampleRecord(2)
			r.Evidence = map[string]string{"cryptoarm.pinned": "sha256/0a1b2c", "eimzo.apikey": "86F0"}
			_, err := j.Append(context.Background(), r)
			require.NoError(t, err)
			appendN(t, j, 3, 1)
			requireVerified(t, path, 3)
			orig, err := os.ReadFile(path)
			require.NoError(t, err)
			lines := bytes.Split(bytes.TrimSuffix(orig, []byte("\n")), []byte("\n"))
			target := 1
			if c.edit == nil {
				target = 0
				lines[0] = bytes.Replace(lines[0], []byte(`"decision":`), []byte(`"evidence":{"apikey":"forged"},"decision":`), 1)
			} else {
				lines[1] = c.edit(lines[1])
			}
			require.NotEqual(t, bytes.Split(orig, []byte("\n"))[target], lines[target], "the edit changed nothing")
			require.NoError(t, os.WriteFile(path, join(lines), 0o600))
			rep, err := VerifyFile(path)
			require.NoError(t, err)
			require.False(t, rep.OK(), "tampered evidence verified")
			p, _ := rep.First()
			assert.Equal(t, uint64(target+1), p.Seq, "first problem %v", p)
		})
	}
}
