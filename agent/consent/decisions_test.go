package consent

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestDecisionsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", DecisionsFile)
	d, err := OpenDecisions(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	a := OriginDecision{Origin: "https://a.example", Choice: Always, Plugin: "eimzo", Decided: now, Evidence: map[string]string{"api_key": "k"}}
	b := OriginDecision{Origin: "https://b.example", Choice: Never, Decided: now}
	for _, od := range []OriginDecision{a, b} {
		if err := d.Set(od); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Set(OriginDecision{Origin: "https://c.example", Choice: "maybe"}); err == nil {
		t.Fatal("invalid choice accepted")
	}
	d2, err := OpenDecisions(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := d2.List(); !reflect.DeepEqual(got, []OriginDecision{a, b}) {
		t.Fatalf("reloaded %+v", got)
	}
	if ok, err := d2.Forget(a.Origin); !ok || err != nil {
		t.Fatal(ok, err)
	}
	d3, _ := OpenDecisions(path)
	if got := d3.List(); len(got) != 1 || got[0].Origin != b.Origin {
		t.Fatalf("after forget %+v", got)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st, err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".origins-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestDecisionsRejectsBadFile(t *testing.T) {
	for _, data := range []string{"{", `[{"origin":"","choice":"always"}]`, `[{"origin":"x","choice":"sometimes"}]`} {
		path := filepath.Join(t.TempDir(), DecisionsFile)
		os.WriteFile(path, []byte(data), 0o600)
		if _, err := OpenDecisions(path); err == nil {
			t.Errorf("%q accepted", data)
		}
	}
}

func FuzzDecisionsFile(f *testing.F) {
	f.Add([]byte(`[{"origin":"https://a.example","choice":"always","decided":"2026-01-01T00:00:00Z"}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"origin":"null","choice":"never","evidence":{"k":"v"}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, DecisionsFile)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := OpenDecisions(path)
		if err != nil {
			return
		}
		list := d.List()
		for _, od := range list {
			if od.Origin == "" || (od.Choice != Always && od.Choice != Never) {
				t.Fatalf("invalid entry loaded: %+v", od)
			}
		}
		// Whatever loads survives a save and reload.
		if len(list) > 0 {
			if err := d.Set(list[0]); err != nil {
				t.Fatal(err)
			}
			d2, err := OpenDecisions(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(d2.List()) != len(list) {
				t.Fatalf("%d entries after reload, want %d", len(d2.List()), len(list))
			}
		}
	})
}
