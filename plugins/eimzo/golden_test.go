package eimzo_test

// Golden transcripts: testdata/golden/*.json, each a list of steps
//
//	{"comment": "…",                      optional
//	 "consent": "allow"|"deny"|"cancel",   the host's answer to questions during this step (default
//	                                       allow; asked to pick a token key, it picks the RSA one)
//	 "origin":  "https://…",               the Origin header; "" sends none; absent is testOrigin
//	 "request": "{\"name\":\"version\"}",  the frame, sent as is after substitution
//	 "reply":   {…},                       the expected reply
//	 "close":   1009}                      instead of a reply: the expected close code
//
// replayed in order against one real plugin process (plugintest.Start,
// with the E-IMZO-like PFX disk of pfxEnv), one connection per step as
// e-imzo.js does, each reply followed by close 1000.
//
// Placeholders stand for what changes from run to run. In an expected
// reply, a whole string "<keyId>" matches 32 lowercase hex digits and
// remembers them as the variable keyId; "<base64>", "<hex>", "<datetime>"
// (2006.01.02 15:04:05), "<string>", "<number>", "<any>" match any value
// of that shape; "<apidoc>" matches
// apidoc's array of plugins; "<shape:name>" also remembers the value as
// the variable name (a pkcs7_64 to pass on to the next request). Every
// other "<name>" is a variable — remembered, or a fixture (goldenVars: the
// test disk, the key files' aliases and certificates, the token's
// certificates) — replaced by its value in requests and replies alike. The
// request "<oversize>" sends one frame declaring MaxFrame+1 bytes.
//
// go test -run Golden -update rewrites the expected replies from the
// plugin's actual ones, keeping the placeholders that still match,
// putting fixture variables back in place of their values, and turning
// new keyIds, *_64, *_hex, signature and date fields into placeholders.
// Review the diff.

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/plugins/eimzo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the plugin's replies")

// goldenStep is one request of a transcript.
type goldenStep struct {
	Comment string  `json:"comment,omitempty"`
	Consent string  `json:"consent,omitempty"`
	Origin  *string `json:"origin,omitempty"`
	Request string  `json:"request"`
	Reply   any     `json:"reply,omitempty"`
	Close   int     `json:"close,omitempty"`
}

// placeholderRE matches a placeholder: a whole string "<name>" or
// "<shape:name>".
var placeholderRE = regexp.MustCompile(`^<([A-Za-z0-9_.-]+)(?::([A-Za-z0-9_.-]+))?>$`)

// varRE finds fixture variables inside a string.
var varRE = regexp.MustCompile(`<([A-Za-z0-9_.:-]+)>`)

// shapes are the placeholders that match a shape rather than a variable.
var shapes = map[string]bool{"keyId": true, "base64": true, "hex": true, "datetime": true, "string": true, "number": true, "any": true, "apidoc": true}

var (
	keyIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hexRE   = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	// datetimeRE is E-IMZO's date format (validFrom, signingTime).
	datetimeRE = regexp.MustCompile(`^\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2}$`)
)

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no golden transcripts")
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) { runGolden(t, file) })
	}
}

func runGolden(t *testing.T, file string) {
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var steps []goldenStep
	require.NoError(t, json.Unmarshal(b, &steps), file)
	asker := newSwitchAsker()
	h, fxs := pfxEnv(t, &plugintest.Config{Consent: asker})
	vars := goldenVars(t, h, fxs)
	// Allowing, the person picks the token's RSA key when asked to choose
	// one (ckc, idcard, baikey), whatever other keys the token holds.
	allow := consent.AskerFunc(func(ctx context.Context, req consent.Request) error {
		if out := consent.OutcomeFrom(ctx); out != nil {
			for _, c := range req.Choices {
				if c.URI == vars["token.rsa.uri"] {
					out.KeyURI = c.URI
				}
			}
		}
		return nil
	})
	for i := range steps {
		st := &steps[i]
		name := fmt.Sprintf("%s step %d (%.80s)", filepath.Base(file), i, st.Request)
		switch st.Consent {
		case "", "allow":
			asker.set(allow)
		case "deny":
			asker.set(consent.DenyAll.Ask)
		case "cancel":
			asker.set(cancelAll)
		default:
			require.FailNow(t, "unknown consent answer", "%s: consent %q", name, st.Consent)
		}
		origin := testOrigin
		if st.Origin != nil {
			origin = *st.Origin
		}
		if st.Request == "<oversize>" {
			c := dial(t, h, endpoint(h, "ws"), origin)
			writeDeclaredFrame(t, c, eimzo.MaxFrame+1, []byte(`{"name":"version"`))
			expectClose(t, c, st.Close, "*")
			continue
		}
		require.Zero(t, st.Close, "%s: close is only for <oversize>", name)
		req := substitute(t, name, st.Request, vars)
		raw := rawCall(t, h, endpoint(h, "ws"), origin, req)
		var got any
		require.NoError(t, json.Unmarshal(raw, &got), "%s: reply is not JSON: %.300s", name, raw)
		if *update {
			st.Reply = generalize("", st.Reply, got, vars)
		}
		assert.NoError(t, match("reply", st.Reply, got, vars), "%s\ngot:  %.2000s", name, raw)
	}
	if *update {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		require.NoError(t, enc.Encode(steps))
		require.NoError(t, os.WriteFile(file, buf.Bytes(), 0o644))
	}
}

// goldenVars are the fixture variables: values that differ from run to
// run (paths, certificates made at test start) under stable names.
func goldenVars(t *testing.T, h *plugintest.Host, fxs []pfxFixture) map[string]string {
	v := map[string]string{}
	for _, f := range fxs {
		v["disk"] = f.Disk
		p := "pfx." + f.Name + "."
		v[p+"alias"] = f.Alias
		v[p+"unlockedAlias"] = f.UnlockedAlias
		certVars(v, p, f.Cert)
		if len(f.Chain) > 0 {
			certVars(v, p+"ca.", f.Chain[0])
			certVars(v, p+"root.", f.Chain[len(f.Chain)-1])
		}
	}
	for name, label := range map[string]string{"rsa": plugintest.KeyRSA, "ecdsa": plugintest.KeyECDSA, "ed25519": plugintest.KeyEd25519} {
		k := h.Key(t, label)
		p := "token." + name + "."
		v[p+"uri"] = k.URI
		if k.Certificate != nil {
			certVars(v, p, k.Certificate)
		}
	}
	return v
}

// certVars adds the variables of one certificate under prefix: the
// certificate (cert64), its serial, its public key (pubkey64) and its
// signature (certsig).
func certVars(v map[string]string, prefix string, c *x509.Certificate) {
	v[prefix+"cert64"] = base64.StdEncoding.EncodeToString(c.Raw)
	// Lowercase hex without leading zeros, as E-IMZO (Java's
	// BigInteger.toString(16)) and the plugin write serials.
	v[prefix+"serial"] = c.SerialNumber.Text(16)
	v[prefix+"pubkey64"] = base64.StdEncoding.EncodeToString(c.RawSubjectPublicKeyInfo)
	v[prefix+"certsig"] = hex.EncodeToString(c.Signature)
}

// substitute replaces fixture variables and the remembered keyId in s.
func substitute(t *testing.T, where, s string, vars map[string]string) string {
	var missing []string
	out := varRE.ReplaceAllStringFunc(s, func(m string) string {
		name := m[1 : len(m)-1]
		if val, ok := vars[name]; ok {
			return jsonInner(val)
		}
		missing = append(missing, name)
		return m
	})
	require.Empty(t, missing, "%s: unknown variables", where)
	return out
}

// jsonInner is val escaped for the inside of a JSON string (requests are
// JSON text; a Windows-style path or a quote must stay valid JSON).
func jsonInner(val string) string {
	b, _ := json.Marshal(val)
	return string(b[1 : len(b)-1])
}

// match checks got against the expected want at path; it remembers a
// keyId matched by "<keyId>" in vars.
func match(path string, want, got any, vars map[string]string) error {
	switch w := want.(type) {
	case string:
		if m := placeholderRE.FindStringSubmatch(w); m != nil && shapes[m[1]] {
			if err := matchShape(path, m[1], got, vars); err != nil {
				return err
			}
			if m[2] != "" {
				vars[m[2]] = fmt.Sprint(got)
			}
			return nil
		}
		expanded := varRE.ReplaceAllStringFunc(w, func(m string) string {
			if val, ok := vars[m[1:len(m)-1]]; ok && !shapes[m[1:len(m)-1]] {
				return val
			}
			return m
		})
		if g, ok := got.(string); !ok || g != expanded {
			return fmt.Errorf("%s: got %s, want %q", path, short(got), expanded)
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: got %s, want an object", path, short(got))
		}
		for _, k := range sortedKeys(w) {
			if _, ok := g[k]; !ok {
				return fmt.Errorf("%s: field %q missing", path, k)
			}
			if err := match(path+"."+k, w[k], g[k], vars); err != nil {
				return err
			}
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				return fmt.Errorf("%s: unexpected field %q = %s", path, k, short(g[k]))
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: got %s, want an array of %d", path, short(got), len(w))
		}
		for i := range w {
			if err := match(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], vars); err != nil {
				return err
			}
		}
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) || (want == nil) != (got == nil) {
			return fmt.Errorf("%s: got %s, want %s", path, short(got), short(want))
		}
	}
	return nil
}

// matchShape checks got against a shape placeholder.
func matchShape(path, shape string, got any, vars map[string]string) error {
	s, isString := got.(string)
	switch shape {
	case "any":
		return nil
	case "number":
		if _, ok := got.(float64); ok {
			return nil
		}
	case "string":
		if isString {
			return nil
		}
	case "keyId":
		if isString && keyIDRE.MatchString(s) {
			vars["keyId"] = s
			return nil
		}
	case "hex":
		if isString && hexRE.MatchString(s) {
			return nil
		}
	case "datetime":
		if isString && datetimeRE.MatchString(s) {
			return nil
		}
	case "base64":
		if isString && s != "" {
			if _, err := base64.StdEncoding.DecodeString(s); err == nil {
				return nil
			}
		}
	case "apidoc":
		if err := checkAPIDoc(got); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		return nil
	}
	return fmt.Errorf("%s: got %s, want <%s>", path, short(got), shape)
}

// checkAPIDoc checks apidoc's shape, as E-IMZO writes it: a non-empty array of
// plugins {name, description, functions: [{plugin, name, description,
// arguments: [{name, optional, description}]}]}, every function under its
// own plugin, no main functions.
func checkAPIDoc(got any) error {
	plugins, ok := got.([]any)
	if !ok || len(plugins) == 0 {
		return fmt.Errorf("apidoc: got %s, want a non-empty array", short(got))
	}
	for _, p := range plugins {
		pm, _ := p.(map[string]any)
		name, _ := pm["name"].(string)
		desc, _ := pm["description"].(string)
		fns, _ := pm["functions"].([]any)
		if name == "" || desc == "" || len(fns) == 0 || len(pm) != 3 {
			return fmt.Errorf("apidoc plugin %s", short(p))
		}
		for _, f := range fns {
			fm, _ := f.(map[string]any)
			fd, _ := fm["description"].(string)
			fn, _ := fm["name"].(string)
			args, isList := fm["arguments"].([]any)
			if fm["plugin"] != name || fn == "" || fd == "" || !isList || len(fm) != 4 {
				return fmt.Errorf("apidoc function %s under %s", short(f), name)
			}
			for _, a := range args {
				am, _ := a.(map[string]any)
				an, _ := am["name"].(string)
				_, isBool := am["optional"].(bool)
				if _, isString := am["description"].(string); an == "" || !isBool || !isString || len(am) != 3 {
					return fmt.Errorf("apidoc argument %s of %s.%s", short(a), name, fn)
				}
			}
		}
	}
	return nil
}

// generalize turns an actual reply into the expected one for -update:
// placeholders of old that still match stay; fixture variables replace
// their values; keyIds, *_64, *_hex, signature and date fields become
// shape placeholders.
func generalize(key string, old, got any, vars map[string]string) any {
	if s, ok := old.(string); ok && placeholderRE.MatchString(s) && match("", s, got, copyVars(vars)) == nil {
		return s
	}
	switch g := got.(type) {
	case []any:
		if key == "" && checkAPIDoc(g) == nil {
			return "<apidoc>"
		}
		oa, _ := old.([]any)
		out := make([]any, len(g))
		for i, v := range g {
			var o any
			if i < len(oa) {
				o = oa[i]
			}
			out[i] = generalize(key, o, v, vars)
		}
		return out
	case map[string]any:
		om, _ := old.(map[string]any)
		out := map[string]any{}
		for k, v := range g {
			out[k] = generalize(k, om[k], v, vars)
		}
		return out
	case string:
		if key == "keyId" && keyIDRE.MatchString(g) {
			return "<keyId>"
		}
		if datetimeRE.MatchString(g) {
			return "<datetime>" // certificates and signatures made at test time
		}
		if o, ok := old.(string); ok && match("", o, g, copyVars(vars)) == nil {
			return o // an old expectation with variables that still fits
		}
		if name := exactVar(g, vars); name != "" {
			return "<" + name + ">"
		}
		if strings.HasSuffix(key, "_64") && g != "" {
			if _, err := base64.StdEncoding.DecodeString(g); err == nil {
				return "<base64>"
			}
		}
		if (strings.HasSuffix(key, "_hex") || key == "signature") && hexRE.MatchString(g) {
			return "<hex>" // signatures: ECDSA's differ every time
		}
		return replaceVars(g, vars)
	}
	return got
}

func copyVars(vars map[string]string) map[string]string {
	c := make(map[string]string, len(vars))
	for k, v := range vars {
		c[k] = v
	}
	return c
}

// exactVar names the fixture variable whose value is s, if any.
func exactVar(s string, vars map[string]string) string {
	for _, k := range sortedKeys(vars) {
		if !shapes[k] && vars[k] == s && s != "" {
			return k
		}
	}
	return ""
}

// replaceVars puts fixture variables in place of their values inside s,
// longest value first.
func replaceVars(s string, vars map[string]string) string {
	var names []string
	for k, v := range vars {
		if !shapes[k] && len(v) >= 6 {
			names = append(names, k)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if len(vars[names[i]]) != len(vars[names[j]]) {
			return len(vars[names[i]]) > len(vars[names[j]])
		}
		return names[i] < names[j]
	})
	for _, k := range names {
		s = strings.ReplaceAll(s, vars[k], "<"+k+">")
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// short renders v for a failure message.
func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// TestGoldenMatcher checks the -update machinery's own pieces on known
// values, so a broken matcher cannot make every transcript pass.
func TestGoldenMatcher(t *testing.T) {
	vars := map[string]string{"disk": "/tmp/disk/"}
	want := map[string]any{"success": true, "status": float64(1), "keyId": "<keyId>", "disk": "<disk>", "path": "<disk>DSKEYS", "p": "<base64>"}
	got := map[string]any{"success": true, "status": float64(1), "keyId": "0123456789abcdef0123456789abcdef", "disk": "/tmp/disk/", "path": "/tmp/disk/DSKEYS", "p": "AAEC"}
	require.NoError(t, match("r", want, got, vars))
	assert.Equal(t, "0123456789abcdef0123456789abcdef", vars["keyId"], "keyId not remembered: %v", vars)
	for _, bad := range []map[string]any{
		{"keyId": "0123456789ABCDEF0123456789abcdef"},
		{"disk": "/tmp/other/"},
		{"p": "not base64!"},
		{"status": float64(0)},
		{"extra": "field"},
	} {
		g := map[string]any{}
		for k, v := range got {
			g[k] = v
		}
		for k, v := range bad {
			g[k] = v
		}
		assert.Error(t, match("r", want, g, vars), "%v matched", bad)
	}
	gen := generalize("", nil, got, vars)
	assert.NoError(t, match("r", gen, got, map[string]string{"disk": "/tmp/disk/"}), "generalize: %v", gen)
	if assert.IsType(t, map[string]any{}, gen, "generalize") {
		assert.Equal(t, "<disk>DSKEYS", gen.(map[string]any)["path"], "generalize: %v", gen)
		assert.Equal(t, "<keyId>", gen.(map[string]any)["keyId"], "generalize: %v", gen)
	}
}
