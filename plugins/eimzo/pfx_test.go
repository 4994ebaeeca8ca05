package eimzo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/plugintest"
	"github.com/signet-agent/signet/internal/softhsmtest"
	"github.com/signet-agent/signet/plugins/eimzo"
	"github.com/signet-agent/signet/plugins/eimzo/eimzoclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pfxReq builds a pfx plugin request.
func pfxReq(name string, args ...string) map[string]any {
	if args == nil {
		args = []string{}
	}
	return map[string]any{"plugin": "pfx", "name": name, "arguments": args}
}

// wantOK fails unless reply is a success (mustOK without the result).
func wantOK(t testing.TB, what string, reply map[string]any) {
	t.Helper()
	mustOK(t, what, reply)
}

// wantStatus fails unless reply is a failure with status.
func wantStatus(t testing.TB, what string, reply map[string]any, status int) {
	t.Helper()
	require.Equal(t, false, reply["success"], "%s: %v, want status %d", what, reply, status)
	require.Equal(t, float64(status), reply["status"], "%s: %v", what, reply)
}

// listedCerts decodes a certificates reply.
func listedCerts(t testing.TB, reply map[string]any) []map[string]string {
	t.Helper()
	raw, ok := reply["certificates"].([]any)
	require.True(t, ok, "no certificates array in %v", reply)
	var out []map[string]string
	for _, r := range raw {
		m, ok := r.(map[string]any)
		require.True(t, ok, "certificate entry %v is not an object", r)
		require.Len(t, m, 4, "certificate entry %v, want {disk, path, name, alias}", r)
		e := map[string]string{}
		for _, k := range []string{"disk", "path", "name", "alias"} {
			s, ok := m[k].(string)
			require.True(t, ok, "certificate entry %v: %s is not a string", r, k)
			e[k] = s
		}
		out = append(out, e)
	}
	return out
}

// findListed returns the listed entry of fixture f.
func findListed(t testing.TB, certs []map[string]string, f pfxFixture) map[string]string {
	t.Helper()
	for _, c := range certs {
		if c["disk"] == f.Disk && c["path"] == f.Path && c["name"] == f.Name {
			assert.Contains(t, []string{f.Alias, f.UnlockedAlias}, c["alias"], "%s: alias, want the locked or the unlocked one", f.Name)
			return c
		}
	}
	require.FailNow(t, "not listed", "%s (%s %q) not listed in %v", f.Name, f.Disk, f.Path, certs)
	return nil
}

// loadKey loads fixture f with the alias it is listed under and returns
// the keyId.
func loadKey(t testing.TB, h *plugintest.Host, origin string, f pfxFixture, alias string) string {
	t.Helper()
	r := call(t, h, endpoint(h, "ws"), origin, pfxReq("load_key", f.Disk, f.Path, f.Name, alias))
	wantOK(t, "load_key "+f.Name, r)
	id, _ := r["keyId"].(string)
	require.Regexp(t, `^[0-9a-f]{32}$`, id, "load_key %s: %v, want a 32-hex keyId", f.Name, r)
	require.Equal(t, "PFX_KEY_STORE", r["type"], "load_key %s: %v", f.Name, r)
	return id
}

func TestPFXListAllCertificates(t *testing.T) {
	h, fxs := pfxEnv(t, nil)
	url := endpoint(h, "wss")
	all := listedCerts(t, call(t, h, url, testOrigin, pfxReq("list_all_certificates")))
	assert.Len(t, all, len(fxs), "want the PFX fixtures only (token keys are not listed)")
	for _, f := range fxs {
		findListed(t, all, f)
	}
	// Without arguments at all, as the official client sends it.
	r := call(t, h, url, testOrigin, map[string]any{"plugin": "pfx", "name": "list_all_certificates"})
	wantOK(t, "list_all_certificates without arguments", r)

	disk := fxs[0].Disk
	require.True(t, strings.HasSuffix(disk, string(filepath.Separator)), "fixture disk %q has no trailing separator", disk)
	r = call(t, h, url, testOrigin, pfxReq("list_disks"))
	wantOK(t, "list_disks", r)
	assert.Equal(t, []any{disk}, r["disks"], "list_disks")
	for _, arg := range []string{disk, strings.TrimSuffix(disk, string(filepath.Separator))} {
		one := listedCerts(t, call(t, h, url, testOrigin, pfxReq("list_certificates", arg)))
		assert.Len(t, one, len(fxs), "list_certificates(%q)", arg)
	}
	wantStatus(t, "list_certificates of an unknown disk",
		call(t, h, url, testOrigin, pfxReq("list_certificates", "/no/such/disk/")), -2011)
	wantStatus(t, "list_certificates without its argument", call(t, h, url, testOrigin, pfxReq("list_certificates")), 0)
	wantStatus(t, "list_all_certificates without an Origin", call(t, h, url, "", pfxReq("list_all_certificates")), -1021)
}

// TestPFXLocation checks the disk/path rule on the fixtures: files in
// DSKEYS are on the folder's parent with path "DSKEYS", the others on their
// own folder with path "".
func TestPFXLocation(t *testing.T) {
	_, fxs := pfxEnv(t, nil)
	for _, f := range fxs {
		dir := filepath.Dir(f.File)
		want := dir + string(filepath.Separator)
		if f.Path == "DSKEYS" {
			require.Equal(t, "DSKEYS", filepath.Base(dir), "%s: path DSKEYS for %s", f.Name, f.File)
			want = filepath.Dir(dir) + string(filepath.Separator)
		}
		assert.Equal(t, want, f.Disk, "%s: disk", f.Name)
	}
}

// recorder is a consent Asker that allows everything and records the
// requests (choosing the first candidate, as consent.AllowAll).
type recorder struct {
	mu   sync.Mutex
	reqs []consent.Request
	deny func(consent.Request) bool
	// choose, when set, answers key choices (Request.Choices): the key
	// picked and the grant id reported.
	choose func(consent.Request) (keyURI, grantID string)
}

func (r *recorder) Ask(ctx context.Context, req consent.Request) error {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	deny, choose := r.deny, r.choose
	r.mu.Unlock()
	if deny != nil && deny(req) {
		return fmt.Errorf("test denies %q: %w", req.Summary, hsm.ErrDenied)
	}
	if out := consent.OutcomeFrom(ctx); out != nil && choose != nil && len(req.Choices) > 0 {
		out.KeyURI, out.GrantID = choose(req)
		return nil
	}
	return consent.AllowAll.Ask(ctx, req)
}

func (r *recorder) requests() []consent.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]consent.Request(nil), r.reqs...)
}

func TestPFXLoadKeyAndVerifyPassword(t *testing.T) {
	rec := &recorder{}
	h, fxs := pfxEnv(t, &plugintest.Config{Consent: rec})
	url := endpoint(h, "ws")
	all := listedCerts(t, call(t, h, url, testOrigin, pfxReq("list_all_certificates")))
	for _, f := range fxs {
		t.Run(f.Name, func(t *testing.T) {
			listed := findListed(t, all, f)
			id := loadKey(t, h, testOrigin, f, listed["alias"])

			// load_key asked the host about this key, naming the domain
			// and the holder.
			// (A locked file without friendlyName shows no holder yet: its
			// file name stands in.)
			uri := pfx.FileURI(f.File)
			holder := strings.ToLower(f.Cert.Subject.CommonName)
			if listed["alias"] != f.UnlockedAlias {
				holder = strings.ToLower(f.Name)
			}
			var asked bool
			for _, req := range rec.requests() {
				if strings.HasPrefix(req.KeyURI, uri+"#") && strings.Contains(req.Summary, "portal.example loads key") &&
					strings.Contains(strings.ToLower(req.Summary), holder) {
					asked = true
				}
			}
			assert.True(t, asked, "load_key did not ask the host about %s with a summary naming the domain and %q", uri, holder)

			// verify_password signs through the host (the test prompt
			// gives the password) and checks the signature.
			r := call(t, h, url, testOrigin, pfxReq("verify_password", id))
			wantOK(t, "verify_password", r)
			var signed bool
			for _, req := range rec.requests() {
				if req.Kind == consent.Sign && strings.HasPrefix(req.KeyURI, uri+"#") &&
					strings.Contains(req.Summary, "portal.example asks to confirm the password of key") {
					signed = true
				}
			}
			assert.True(t, signed, "verify_password made no signature with %s through the host", uri)

			// Once unlocked, the listing shows the certificate's alias; the
			// alias listed before still loads.
			all2 := listedCerts(t, call(t, h, url, testOrigin, pfxReq("list_all_certificates")))
			assert.Equal(t, f.UnlockedAlias, findListed(t, all2, f)["alias"], "alias after unlock")
			loadKey(t, h, testOrigin, f, f.Alias)
			loadKey(t, h, testOrigin, f, f.UnlockedAlias)

			// unload_key, then the id is gone.
			wantOK(t, "unload_key", call(t, h, url, testOrigin, pfxReq("unload_key", id)))
			wantStatus(t, "unload_key twice", call(t, h, url, testOrigin, pfxReq("unload_key", id)), -1010)
			wantStatus(t, "verify_password after unload", call(t, h, url, testOrigin, pfxReq("verify_password", id)), -1010)
		})
	}
}

func TestPFXLoadKeyErrors(t *testing.T) {
	h, fxs := pfxEnv(t, nil)
	url := endpoint(h, "ws")
	f := pfxFixtureByName(t, fxs, "DILNOZA")
	tests := []struct {
		name             string
		disk, path, file string
		alias            string
		status           int
		reasonHas        []string
	}{
		{"bad path", f.Disk, "KEYS", f.Name, f.Alias, -1002, []string{"DSKEYS"}},
		{"lower-case path", f.Disk, "dskeys", f.Name, f.Alias, -1002, nil},
		{"unknown disk", "/no/such/disk/", f.Path, f.Name, f.Alias, -2011, []string{"/no/such/disk/"}},
		{"empty disk", "", f.Path, f.Name, f.Alias, -2011, nil},
		{"unknown file", f.Disk, f.Path, "NOSUCH", f.Alias, -2002, []string{"NOSUCH.pfx"}},
		{"file in the other folder", f.Disk, "", f.Name, f.Alias, -2002, nil},
		{"unknown alias", f.Disk, f.Path, f.Name, "cn=nobody", -2006, []string{"[cn=nobody]", "DILNOZA.pfx"}},
		{"alias of another file", f.Disk, f.Path, f.Name, pfxFixtureByName(t, fxs, "VALI").Alias, -2006, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, h, url, testOrigin, pfxReq("load_key", tc.disk, tc.path, tc.file, tc.alias))
			wantStatus(t, "load_key", r, tc.status)
			reason, _ := r["reason"].(string)
			for _, s := range tc.reasonHas {
				assert.Contains(t, reason, s, "reason does not name %q", s)
			}
		})
	}
	// path is optional but positional: three arguments are a wrong count.
	wantStatus(t, "load_key with 3 arguments", call(t, h, url, testOrigin, pfxReq("load_key", f.Disk, f.Name, f.Alias)), 0)

	// Unknown ids.
	for _, fn := range []string{"unload_key", "verify_password"} {
		wantStatus(t, fn+" of an unknown id", call(t, h, url, testOrigin, pfxReq(fn, "0123456789abcdef0123456789abcdef")), -1010)
		wantStatus(t, fn+" of a pseudo-id", call(t, h, url, testOrigin, pfxReq(fn, "ckc")), -1010)
	}

	// A keyId is the domain's own: another domain gets -1010.
	id := loadKey(t, h, testOrigin, f, f.Alias)
	for _, fn := range []string{"verify_password", "unload_key"} {
		wantStatus(t, fn+" from another domain", call(t, h, url, "https://other.example", pfxReq(fn, id)), -1010)
	}
	wantOK(t, "verify_password from the loading domain", call(t, h, url, testOrigin, pfxReq("verify_password", id)))
	// Same host on another port or scheme is the same E-IMZO domain.
	wantOK(t, "verify_password from the same domain over http", call(t, h, url, "http://portal.example:8080", pfxReq("verify_password", id)))
}

func TestPFXLoadKeyDenied(t *testing.T) {
	rec := &recorder{deny: func(req consent.Request) bool { return req.KeyURI != "" }}
	h, fxs := pfxEnv(t, &plugintest.Config{Consent: rec})
	url := endpoint(h, "ws")
	f := pfxFixtureByName(t, fxs, "ESHMAT")
	r := call(t, h, url, testOrigin, pfxReq("load_key", f.Disk, f.Path, f.Name, f.Alias))
	wantStatus(t, "load_key refused by the person", r, -5002)

	// The origin policy refuses the domain: listing is -1022.
	rec.mu.Lock()
	rec.deny = func(req consent.Request) bool { return req.Kind == consent.List }
	rec.mu.Unlock()
	wantStatus(t, "list_all_certificates of a refused domain", call(t, h, url, testOrigin, pfxReq("list_all_certificates")), -1022)
	wantStatus(t, "load_key of a refused domain", call(t, h, url, testOrigin, pfxReq("load_key", f.Disk, f.Path, f.Name, f.Alias)), -1022)
	wantStatus(t, "list_ckc of a refused domain", call(t, h, url, testOrigin, map[string]any{"plugin": "ckc", "name": "list_ckc"}), -1022)
}

func TestPFXKeyIDExpires(t *testing.T) {
	h, fxs := pfxEnv(t, &plugintest.Config{Options: map[string]string{"key_ttl": "300ms"}})
	url := endpoint(h, "ws")
	f := pfxFixtureByName(t, fxs, "ESHMAT")
	id := loadKey(t, h, testOrigin, f, f.Alias)
	time.Sleep(time.Second) // past key_ttl
	wantStatus(t, "verify_password of an expired keyId", call(t, h, url, testOrigin, pfxReq("verify_password", id)), -1010)
	wantStatus(t, "unload_key of an expired keyId", call(t, h, url, testOrigin, pfxReq("unload_key", id)), -1010)
}

func TestPFXDisabledFunctions(t *testing.T) {
	h, fxs := pfxEnv(t, nil)
	url := endpoint(h, "ws")
	f := pfxFixtureByName(t, fxs, "ESHMAT")
	id := loadKey(t, h, testOrigin, f, f.Alias)
	for _, req := range []map[string]any{
		pfxReq("change_password", id),
		pfxReq("save_pfx", f.Disk, "", "NEWKEY", "alias", id, "password", "c2VydA==", "Y2E=", "cm9vdA=="),
		pfxReq("save_temporary_pfx", f.Disk, "", "TMPKEY", "alias", id, "password", "CN=test"),
	} {
		r := call(t, h, url, testOrigin, req)
		wantStatus(t, fmt.Sprint(req["name"]), r, -9999)
		assert.Equal(t, "В данной версии E-IMZO функция отключена", r["reason"], "%s: reason", req["name"])
	}
	// Their real argument lists: a wrong count is "function not found".
	wantStatus(t, "save_pfx with 3 arguments", call(t, h, url, testOrigin, pfxReq("save_pfx", "a", "b", "c")), 0)
	// In Uzbek after app.change_ui_lang("uz").
	wantOK(t, "change_ui_lang", call(t, h, url, testOrigin, map[string]any{"plugin": "app", "name": "change_ui_lang", "arguments": []string{"uz"}}))
	r := call(t, h, url, testOrigin, pfxReq("change_password", id))
	assert.Equal(t, "E-IMZO ning ushbu versiyasida funksiya o'chirilgan", r["reason"], "change_password in Uzbek: reason")
}

// TestAliasOfListedCertificates parses every alias the plugin lists the
// way the official client does and checks that it yields the
// certificate's own CN, TIN/UID, PINFL, serial and validity — and that
// eimzoclient.ParseAlias (written separately) reads the same.
func TestAliasOfListedCertificates(t *testing.T) {
	h, fxs := pfxEnv(t, nil)
	all := listedCerts(t, call(t, h, endpoint(h, "ws"), testOrigin, pfxReq("list_all_certificates")))
	for _, f := range fxs {
		alias := findListed(t, all, f)["alias"]
		got := eimzo.ParseAliasLikeClient(alias)
		other := eimzoclient.ParseAlias(alias)
		// The two client parsers agree.
		assert.Equal(t, got.CN, other.CN, "%s: CN", f.Name)
		assert.Equal(t, got.TIN, other.TIN, "%s: TIN", f.Name)
		assert.Equal(t, got.PINFL, other.PINFL, "%s: PINFL", f.Name)
		assert.Equal(t, got.SerialNumber, other.SerialNumber, "%s: serial number", f.Name)
		assert.True(t, other.ValidToTime.Equal(got.ValidTo), "%s: valid to %v, %v", f.Name, got.ValidTo, other.ValidToTime)
		if alias != f.UnlockedAlias {
			// A locked file without friendlyName: the raw alias, which the
			// official client skips (no TIN, no PINFL).
			assert.True(t, got.Skipped, "%s: raw alias %q not skipped by the client: %+v", f.Name, alias, got)
			continue
		}
		eimzo.CheckClientAlias(t, alias, f.Cert)
	}
}

// TestPFXEncryptedCertificates loads a key from a file whose certificates
// are encrypted under the password (as Java and OpenSSL write them): the
// listing has the friendlyName alias but no certificate, so before the
// first signature the plugin has the host unlock the file (one question,
// one password) and then signs with the certificate it learnt.
func TestPFXEncryptedCertificates(t *testing.T) {
	rec := &recorder{}
	h, fxs := pfxEnv(t, &plugintest.Config{Consent: rec})
	url := endpoint(h, "ws")
	f := pfxFixtureByName(t, fxs, "VALI")
	k, err := f.PKI.NewEIMZOKey(softhsmtest.RSA2048, f.Person, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	file := filepath.Join(pfxDisk, "LOCKED.pfx")
	alias := f.Person.Alias(k.Certificate)
	pfxPasswords.Store(file, "Locked-Parol-1")
	require.NoError(t, softhsmtest.WriteEIMZOPFX(file, k, softhsmtest.EIMZOPFX{Alias: alias, Password: "Locked-Parol-1"}))
	t.Cleanup(func() { os.Remove(file) })

	locked := pfxFixture{Disk: f.Disk, Name: "LOCKED", Alias: alias, UnlockedAlias: alias}
	findListed(t, listedCerts(t, call(t, h, url, testOrigin, pfxReq("list_all_certificates"))), locked)
	id := loadKey(t, h, testOrigin, locked, alias)

	data := base64.StdEncoding.EncodeToString([]byte("imzolanadigan hujjat"))
	for i := 0; i < 2; i++ {
		r := call(t, h, url, testOrigin, map[string]any{"plugin": "pkcs7", "name": "create_pkcs7", "arguments": []string{data, id, "no"}})
		wantOK(t, "create_pkcs7", r)
		assert.Equal(t, k.Certificate.SerialNumber.Text(16), r["signer_serial_number"], "signer")
	}
	var opens int
	for _, rq := range rec.requests() {
		if rq.Kind == consent.Sign && strings.Contains(rq.Summary, "asks to open key file LOCKED.pfx") {
			opens++
		}
	}
	assert.Equal(t, 1, opens, "times the file was opened, want once for the keyId")
}

// TestPFXPasswordRefused: verify_password with a wrong password at every
// attempt is -5000 with the BadPaddingException text e-imzo-init.js looks
// for; a cancelled password prompt is -5000 "Ввод пароля отменен".
func TestPFXPasswordRefused(t *testing.T) {
	h, fxs := pfxEnv(t, nil)
	url := endpoint(h, "ws")
	f := pfxFixtureByName(t, fxs, "ESHMAT")
	for _, tc := range []struct {
		name   string
		prompt any // what the test prompt answers; nil cancels
		reason string
	}{
		{"WRONGPW", wrongPassword("not-the-password"), "BadPaddingException"},
		{"CANCELPW", nil, "Ввод пароля отменен"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := f.PKI.NewEIMZOKey(softhsmtest.ECP256, f.Person, softhsmtest.IssueOptions{})
			require.NoError(t, err)
			file := filepath.Join(pfxDisk, tc.name+".pfx")
			if tc.prompt != nil {
				pfxPasswords.Store(file, tc.prompt)
			}
			alias := f.Person.Alias(k.Certificate)
			require.NoError(t, softhsmtest.WriteEIMZOPFX(file, k, softhsmtest.EIMZOPFX{Alias: alias, Password: "Haqiqiy-Parol", PlainCertificates: true}))
			t.Cleanup(func() { os.Remove(file) })
			id := loadKey(t, h, testOrigin, pfxFixture{Disk: f.Disk, Name: tc.name}, alias)
			r := call(t, h, url, testOrigin, pfxReq("verify_password", id))
			wantStatus(t, "verify_password", r, -5000)
			assert.Contains(t, r["reason"], tc.reason, "reason")
		})
	}
}

// TestPFXEd25519Locked: a locked Ed25519 key is listed without its
// algorithm; verify_password's first attempt signs a SHA-256 digest, which
// Ed25519 refuses, and the retry with what the unlocked key store then
// knows succeeds. create_pkcs7 then signs with the learnt certificate.
func TestPFXEd25519Locked(t *testing.T) {
	h, fxs := pfxEnv(t, nil)
	url := endpoint(h, "ws")
	f := pfxFixtureByName(t, fxs, "ESHMAT")
	k, err := f.PKI.NewEIMZOKey(softhsmtest.Ed25519, f.Person, softhsmtest.IssueOptions{})
	require.NoError(t, err)
	file := filepath.Join(pfxDisk, "EDKEY.pfx")
	pfxPasswords.Store(file, "Ed-Parol")
	alias := f.Person.Alias(k.Certificate)
	require.NoError(t, softhsmtest.WriteEIMZOPFX(file, k, softhsmtest.EIMZOPFX{Alias: alias, Password: "Ed-Parol"}))
	t.Cleanup(func() { os.Remove(file) })
	id := loadKey(t, h, testOrigin, pfxFixture{Disk: f.Disk, Name: "EDKEY"}, alias)
	wantOK(t, "verify_password", call(t, h, url, testOrigin, pfxReq("verify_password", id)))
	data := base64.StdEncoding.EncodeToString([]byte("Ed25519 bilan imzo"))
	r := call(t, h, url, testOrigin, map[string]any{"plugin": "pkcs7", "name": "create_pkcs7", "arguments": []string{data, id, "yes"}})
	wantOK(t, "create_pkcs7", r)
	assert.Equal(t, k.Certificate.SerialNumber.Text(16), r["signer_serial_number"], "signer")
}

// TestPFXApidoc: apidoc lists the pfx and token functions with E-IMZO's
// argument names (v6.4.7), load_key's path optional but positional.
func TestPFXApidoc(t *testing.T) {
	h := plugintest.Start(t, pkg, nil)
	raw := rawCall(t, h, endpoint(h, "ws"), testOrigin, map[string]any{"name": "apidoc"})
	var doc []struct {
		Name      string `json:"name"`
		Functions []struct {
			Name      string `json:"name"`
			Arguments []struct {
				Name     string `json:"name"`
				Optional bool   `json:"optional"`
			} `json:"arguments"`
		} `json:"functions"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc), "apidoc: %.200s", raw)
	got := map[string]string{}
	for _, p := range doc {
		for _, f := range p.Functions {
			var args []string
			for _, a := range f.Arguments {
				n := a.Name
				if a.Optional {
					n += "?"
				}
				args = append(args, n)
			}
			got[p.Name+"."+f.Name] = strings.Join(args, ",")
		}
	}
	for fn, args := range map[string]string{
		"pfx.list_disks":            "",
		"pfx.list_certificates":     "disk",
		"pfx.list_all_certificates": "",
		"pfx.load_key":              "disk,path?,name,alias",
		"pfx.unload_key":            "pfxId",
		"pfx.verify_password":       "pfxId",
		"pfx.change_password":       "pfxId",
		"pfx.save_pfx":              "disk,path?,name,alias,id,new_key_password,subject_certificate_64,ca_certificate_64,root_certificate_64",
		"pfx.save_temporary_pfx":    "disk,path?,name,alias,id,password,subject_x500_name",
		"ckc.list_ckc":              "",
		"ckc.supported_ckc":         "",
		"ckc.clear_saved_pin_codes": "",
		"idcard.list_readers":       "",
		"baikey.list_tokens":        "",
		"uzgrd.list_tokens":         "",
	} {
		if assert.Contains(t, got, fn, "apidoc does not list %s", fn) {
			assert.Equal(t, args, got[fn], "apidoc %s: arguments", fn)
		}

	}
}
