package consent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecisionsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", DecisionsFile)
	d, err := OpenDecisions(path)
	require.NoError(t, err)
	now := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	a := OriginDecision{Origin: "https://a.example", Choice: Always, Plugin: "eimzo", Decided: now, Evidence: map[string]string{"api_key": "k"}}
	b := OriginDecision{Origin: "https://b.example", Choice: Never, Decided: now}
	for _, od := range []OriginDecision{a, b} {
		require.NoError(t, d.Set(od))
	}
	require.Error(t, d.Set(OriginDecision{Origin: "https://c.example", Choice: "maybe"}), "invalid choice accepted")
	d2, err := OpenDecisions(path)
	require.NoError(t, err)
	require.Equal(t, []OriginDecision{a, b}, d2.List(), "reloaded")
	ok, err := d2.Forget(a.Origin)
	require.NoError(t, err)
	require.True(t, ok, "forgotten")
	d3, _ := OpenDecisions(path)
	got := d3.List()
	require.Len(t, got, 1, "after forget")
	require.Equal(t, b.Origin, got[0].Origin, "after forget")
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "mode")
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".origins-*"))
	require.Empty(t, left, "temporary files left")
}

func TestDecisionsRejectsBadFile(t *testing.T) {
	for _, data := range []string{"{", `[{"origin":"","choice":"always"}]`, `[{"origin":"x","choice":"sometimes"}]`} {
		path := filepath.Join(t.TempDir(), DecisionsFile)
		os.WriteFile(path, []byte(data), 0o600)
		_, err := OpenDecisions(path)
		assert.Error(t, err, "%q accepted", data)
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
		require.NoError(t, os.WriteFile(path, data, 0o600))
		d, err := OpenDecisions(path)
		if err != nil {
			return
		}
		list := d.List()
		for _, od := range list {
			require.NotEmpty(t, od.Origin, "invalid entry loaded: %+v", od)
			require.Contains(t, []OriginChoice{Always, Never}, od.Choice, "invalid entry loaded: %+v", od)
		}
		// Whatever loads survives a save and reload.
		if len(list) > 0 {
			require.NoError(t, d.Set(list[0]))
			d2, err := OpenDecisions(path)
			require.NoError(t, err)
			require.Len(t, d2.List(), len(list), "entries after reload")
		}
	})
}
