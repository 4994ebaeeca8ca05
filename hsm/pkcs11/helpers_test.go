package pkcs11

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	p11 "github.com/miekg/pkcs11"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/softhsmtest"
)

func TestMain(m *testing.M) { softhsmtest.Main(m) }

// Tokens used by the tests. SoftHSM only sees tokens that exist when the
// module is initialised, so they are all created before the first Open.
type fixtures struct {
	alpha, beta *softhsmtest.Fixture // standard: rsa2048 (01), ecdsa-p256 (02), ed25519 (03)
	always      *softhsmtest.Fixture // rsa-always (11) with CKA_ALWAYS_AUTHENTICATE
	pin         *softhsmtest.Fixture // ecdsa (21), for PIN tests
	removal     *softhsmtest.Fixture // ecdsa (31), unplugged and re-created
	gen         *softhsmtest.Fixture // empty, for keygen/import/delete
	cache       *softhsmtest.Fixture // ecdsa (41) and rsa (42), for the listing cache (unplugged, changed, re-created)
	chain       *softhsmtest.Fixture // leaf (51), its intermediate filed under the same CKA_ID, and the root
}

var (
	fxOnce sync.Once
	fx     fixtures
	fxErr  error
)

func setup(t testing.TB) *fixtures {
	t.Helper()
	fxOnce.Do(func() {
		env := softhsmtest.Shared()
		mk := func(label string, keys []softhsmtest.KeySpec) *softhsmtest.Fixture {
			if fxErr != nil {
				return nil
			}
			f, err := softhsmtest.NewFixture(env, label, softhsmtest.DefaultUserPIN, softhsmtest.DefaultSOPIN, keys)
			if err != nil {
				fxErr = err
			}
			return f
		}
		fx.alpha = mk("alpha", softhsmtest.StandardKeys)
		fx.beta = mk("beta", softhsmtest.StandardKeys)
		fx.always = mk("always", []softhsmtest.KeySpec{{Label: "rsa-always", ID: []byte{0x11}, Type: softhsmtest.RSA2048, AlwaysAuth: true}})
		fx.pin = mk("pin", []softhsmtest.KeySpec{{Label: "ecdsa", ID: []byte{0x21}, Type: softhsmtest.ECP256}})
		fx.removal = mk("removal", []softhsmtest.KeySpec{{Label: "ecdsa", ID: []byte{0x31}, Type: softhsmtest.ECP256}})
		fx.gen = mk("gen", nil)
		fx.cache = mk("cache", []softhsmtest.KeySpec{
			{Label: "ecdsa", ID: []byte{0x41}, Type: softhsmtest.ECP256},
			{Label: "rsa", ID: []byte{0x42}, Type: softhsmtest.RSA2048}})
		fx.chain = mk("chain", nil)
		if fxErr == nil {
			fxErr = fillChain(fx.chain)
		}
	})
	require.NoError(t, fxErr, "fixtures")
	return &fx
}

// fillChain puts on f's token a key "leaf" (ID 51) with its certificate,
// the intermediate CA certificate under the same CKA_ID (stored first, as
// a token may file it) and the root under its own.
func fillChain(f *softhsmtest.Fixture) error {
	spec := softhsmtest.KeySpec{Label: "leaf", ID: []byte{0x51}, Type: softhsmtest.ECP256}
	k, err := f.Token.GenerateKey(spec)
	if err != nil {
		return err
	}
	if err := f.Token.ImportCertificate(spec.ID, spec.Label, f.PKI.Intermediate); err != nil {
		return err
	}
	if k.Certificate, err = f.PKI.Issue(k.Public, softhsmtest.IssueOptions{}); err != nil {
		return err
	}
	if err := f.Token.ImportCertificate(spec.ID, spec.Label, k.Certificate); err != nil {
		return err
	}
	f.Keys[spec.Label] = k
	return f.Token.ImportCertificate(f.PKI.Root.SubjectKeyId, "root", f.PKI.Root)
}

// prompt is a test PIN prompt that answers from a script and records the
// requests.
type prompt struct {
	mu      sync.Mutex
	answers []func(hsm.PINRequest) (hsm.PINResponse, error)
	def     func(hsm.PINRequest) (hsm.PINResponse, error)
	reqs    []hsm.PINRequest
}

func pinAnswer(pin string) func(hsm.PINRequest) (hsm.PINResponse, error) {
	return func(hsm.PINRequest) (hsm.PINResponse, error) { return hsm.PINResponse{PIN: []byte(pin)}, nil }
}

func cancelAnswer(hsm.PINRequest) (hsm.PINResponse, error) {
	return hsm.PINResponse{}, hsm.ErrCancelled
}

func newPrompt(def func(hsm.PINRequest) (hsm.PINResponse, error), script ...func(hsm.PINRequest) (hsm.PINResponse, error)) *prompt {
	return &prompt{def: def, answers: script}
}

func (p *prompt) fn(ctx context.Context, req hsm.PINRequest) (hsm.PINResponse, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req)
	a := p.def
	if len(p.answers) > 0 {
		a, p.answers = p.answers[0], p.answers[1:]
	}
	p.mu.Unlock()
	if a == nil {
		return hsm.PINResponse{}, errors.New("unexpected prompt")
	}
	return a(req)
}

func (p *prompt) requests() []hsm.PINRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]hsm.PINRequest(nil), p.reqs...)
}

// faultAPI wraps the real module for faults SoftHSM cannot produce, and
// counts sessions.
type faultAPI struct {
	ckAPI
	mu        sync.Mutex
	addFlags  map[uint]uint // slot → token flags to add
	signFault []error       // errors returned by the next C_Sign calls
	logins    []string      // "user"/"context" + ":pad" for NULL-PIN logins
	realPIN   string        // what the "PIN pad" enters

	open    map[uint]int // slot → sessions open now
	maxOpen map[uint]int
	slotOf  map[p11.SessionHandle]uint
	total   atomic.Int64
}

func newFaultAPI(api ckAPI) *faultAPI {
	return &faultAPI{ckAPI: api, addFlags: map[uint]uint{}, open: map[uint]int{}, maxOpen: map[uint]int{},
		slotOf: map[p11.SessionHandle]uint{}, realPIN: softhsmtest.DefaultUserPIN}
}

func (f *faultAPI) GetTokenInfo(slot uint) (p11.TokenInfo, error) {
	ti, err := f.ckAPI.GetTokenInfo(slot)
	f.mu.Lock()
	ti.Flags |= f.addFlags[slot]
	f.mu.Unlock()
	return ti, err
}

func (f *faultAPI) setFlags(slot, flags uint) {
	f.mu.Lock()
	f.addFlags[slot] = flags
	f.mu.Unlock()
}

func (f *faultAPI) Sign(h p11.SessionHandle, msg []byte) ([]byte, error) {
	f.mu.Lock()
	var fault error
	if len(f.signFault) > 0 {
		fault, f.signFault = f.signFault[0], f.signFault[1:]
	}
	f.mu.Unlock()
	if fault != nil {
		return nil, fault
	}
	return f.ckAPI.Sign(h, msg)
}

func (f *faultAPI) Login(h p11.SessionHandle, userType uint, pin string) error {
	what := "user"
	if userType == ckuContextSpecific {
		what = "context"
	}
	if pin == "" {
		what += ":pad"
		pin = f.realPIN // the person typed it on the reader's pad
	}
	f.mu.Lock()
	f.logins = append(f.logins, what)
	f.mu.Unlock()
	return f.ckAPI.Login(h, userType, pin)
}

func (f *faultAPI) loginCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.logins...)
}

func (f *faultAPI) OpenSession(slot uint, flags uint) (p11.SessionHandle, error) {
	h, err := f.ckAPI.OpenSession(slot, flags)
	if err == nil {
		f.mu.Lock()
		f.slotOf[h] = slot
		f.open[slot]++
		if f.open[slot] > f.maxOpen[slot] {
			f.maxOpen[slot] = f.open[slot]
		}
		f.mu.Unlock()
		f.total.Add(1)
	}
	return h, err
}

func (f *faultAPI) CloseSession(h p11.SessionHandle) error {
	f.mu.Lock()
	if slot, ok := f.slotOf[h]; ok {
		f.open[slot]--
		delete(f.slotOf, h)
	}
	f.mu.Unlock()
	return f.ckAPI.CloseSession(h)
}

func (f *faultAPI) maxSessions() map[uint]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[uint]int{}
	for k, v := range f.maxOpen {
		m[k] = v
	}
	return m
}

// openTest opens a Backend on SoftHSM with the fixtures in place.
func openTest(t testing.TB, cfg Config, fault bool) (*Backend, *faultAPI) {
	t.Helper()
	setup(t)
	if cfg.Module == "" {
		cfg.Module = softhsmtest.Shared().Module
	}
	var fa *faultAPI
	var wrap func(ckAPI) ckAPI
	if fault {
		wrap = func(api ckAPI) ckAPI { fa = newFaultAPI(api); return fa }
	}
	b, err := open(cfg, wrap)
	require.NoError(t, err, "Open")
	t.Cleanup(func() { b.Close() })
	return b, fa
}

// keyURI returns the listed URI of the key labelled label on token tok.
func keyURI(t testing.TB, b *Backend, tok, label string) hsm.KeyInfo {
	t.Helper()
	keys, err := b.Keys(context.Background())
	require.NoError(t, err, "Keys")
	for _, k := range keys {
		u, _ := hsm.ParseURI(k.TokenURI)
		if u.Token == tok && k.Label == label {
			return k
		}
	}
	t.Fatalf("no key %q on token %q", label, tok)
	return hsm.KeyInfo{}
}

// slotOf returns the current slot of the token labelled label.
func slotOf(t testing.TB, b *Backend, label string) uint {
	t.Helper()
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, tk := range b.tokens {
		if tk.label == label && tk.present {
			return tk.slot
		}
	}
	t.Fatalf("token %q not present", label)
	return 0
}

// reinitModule re-initialises the shared SoftHSM module, so it sees tokens
// created or re-inserted since (SoftHSM reads its token directory only at
// C_Initialize). Every session and login of the process is lost; backends
// must recover by themselves.
func reinitModule(t testing.TB) {
	t.Helper()
	m, err := loadModule(softhsmtest.Shared().Module)
	require.NoError(t, err)
	require.NoError(t, m.ctx.Finalize(), "C_Finalize")
	require.NoError(t, m.ctx.Initialize(), "C_Initialize")
}

// writePEM writes pub as a PEM public key file and returns its path.
func writePEM(t testing.TB, dir string, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	p := filepath.Join(dir, "pub.pem")
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600))
	return p
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

func openssl(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	require.NoError(t, err, "openssl %v: %v\n%s", args, err, out)
}
