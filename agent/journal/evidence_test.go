package journal

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
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
	if got := r.ComputeHash(); got != before {
		t.Fatalf("hash of a record without evidence changed: %s, was %s", got, before)
	}
	r.Evidence = map[string]string{}
	if got := r.ComputeHash(); got != before {
		t.Fatalf("empty evidence changes the hash: %s", got)
	}
	r.Evidence = map[string]string{"apikey": "x"}
	if r.ComputeHash() == before {
		t.Fatal("evidence is not covered by the hash")
	}
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
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 4, 1)
	if !reflect.DeepEqual(r.Evidence, caller) {
		t.Error("Append modified the caller's evidence map")
	}
	if got.Evidence["eimzo.apikey"] != "86F0C8A5E8D5E1B2" || got.Evidence["html"] != `<script>alert(1)</script>` {
		t.Errorf("evidence not kept as given: %q", got.Evidence)
	}
	if v, ok := got.Evidence["bad\uFFFDkey"]; !ok || v != "bad\uFFFDvalue" {
		t.Errorf("invalid UTF-8 not replaced: %q", got.Evidence)
	}
	if len(got.Evidence["big"]) > maxField {
		t.Errorf("evidence value of %d bytes kept", len(got.Evidence["big"]))
	}
	if _, ok := got.Evidence[""]; ok {
		t.Error("empty evidence key kept")
	}
	long := 0
	for k := range got.Evidence {
		if len(k) > maxEvidenceKey {
			t.Errorf("evidence key of %d bytes kept", len(k))
		}
		if strings.HasPrefix(k, "kkkk") {
			long++
		}
	}
	if long != 1 {
		t.Errorf("%d clipped long keys; want 1 (the second clips to the same key)", long)
	}
	mustVerifyOK(t, path, 4)
	recs, err := ReadFile(path, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(recs[2], got) {
		t.Errorf("record read back differs:\n%+v\n%+v", recs[2], got)
	}
	if recs[0].Evidence != nil || recs[3].Evidence != nil {
		t.Error("records without evidence read back with some")
	}
}

func TestEvidenceBounded(t *testing.T) {
	r := sampleRecord(1)
	r.Evidence = map[string]string{}
	for i := range MaxEvidence + 10 {
		r.Evidence[fmt.Sprintf("k%02d", i)] = "v"
	}
	r.normalize()
	if len(r.Evidence) != MaxEvidence {
		t.Fatalf("%d evidence entries kept, want %d", len(r.Evidence), MaxEvidence)
	}
	for i := range MaxEvidence {
		if _, ok := r.Evidence[fmt.Sprintf("k%02d", i)]; !ok {
			t.Errorf("k%02d dropped; the first %d keys in order are kept", i, MaxEvidence)
		}
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
			if _, err := j.Append(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			appendN(t, j, 3, 1)
			mustVerifyOK(t, path, 3)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.Split(bytes.TrimSuffix(orig, []byte("\n")), []byte("\n"))
			target := 1
			if c.edit == nil {
				target = 0
				lines[0] = bytes.Replace(lines[0], []byte(`"decision":`), []byte(`"evidence":{"apikey":"forged"},"decision":`), 1)
			} else {
				lines[1] = c.edit(lines[1])
			}
			if bytes.Equal(lines[target], bytes.Split(orig, []byte("\n"))[target]) {
				t.Fatal("the edit changed nothing")
			}
			if err := os.WriteFile(path, join(lines), 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := VerifyFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatal("tampered evidence verified")
			}
			if p, _ := rep.First(); p.Seq != uint64(target+1) {
				t.Errorf("first problem %v; want at seq %d", p, target+1)
			}
		})
	}
}
