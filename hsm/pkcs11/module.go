package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// PKCS#11 v3.0 constants github.com/miekg/pkcs11 v1.1.2 lacks.
const (
	ckkECEdwards           = 0x40   // CKK_EC_EDWARDS
	ckmECEdwardsKeyPairGen = 0x1055 // CKM_EC_EDWARDS_KEY_PAIR_GEN
	ckmEdDSA               = 0x1057 // CKM_EDDSA
	ckuContextSpecific     = 2      // CKU_CONTEXT_SPECIFIC
)

// The TC26 PKCS#11 extensions for GOST R 34.10-2012 (vendor range
// CK_VENDOR_PKCS11_RU_TEAM_TC26 = 0x80000000|0x54321000), as the public
// headers of Rutoken, JaCarta and OpenSC give them (docs/gost.md). 256-bit
// keys (2001 and 2012) are the standard CKK_GOSTR3410 and sign with
// CKM_GOSTR3410; both carry their curve in CKA_GOSTR3410_PARAMS.
const (
	ckVendorTC26                  = 0xD4321000
	ckkGOSTR3410_512              = ckVendorTC26 | 0x003 // CKK_GOSTR3410_512
	ckmGOSTR3410_512              = ckVendorTC26 | 0x006 // CKM_GOSTR3410_512: sign a 64-byte digest
	ckmGOSTR3410WithGOSTR3411_256 = ckVendorTC26 | 0x008 // CKM_GOSTR3410_WITH_GOSTR3411_12_256
	ckmGOSTR3410WithGOSTR3411_512 = ckVendorTC26 | 0x009 // CKM_GOSTR3410_WITH_GOSTR3411_12_512
)

// ckAPI is the part of *p11.Ctx the backend uses. Production code calls the
// real *p11.Ctx through it; tests wrap it to inject faults SoftHSM cannot
// produce (CKR_DEVICE_REMOVED mid-sign, final-try flags, a PIN pad).
type ckAPI interface {
	GetSlotList(tokenPresent bool) ([]uint, error)
	GetTokenInfo(slotID uint) (p11.TokenInfo, error)
	GetMechanismList(slotID uint) ([]*p11.Mechanism, error)
	OpenSession(slotID uint, flags uint) (p11.SessionHandle, error)
	CloseSession(sh p11.SessionHandle) error
	GetSessionInfo(sh p11.SessionHandle) (p11.SessionInfo, error)
	Login(sh p11.SessionHandle, userType uint, pin string) error
	Logout(sh p11.SessionHandle) error
	FindObjectsInit(sh p11.SessionHandle, temp []*p11.Attribute) error
	FindObjects(sh p11.SessionHandle, max int) ([]p11.ObjectHandle, bool, error)
	FindObjectsFinal(sh p11.SessionHandle) error
	GetAttributeValue(sh p11.SessionHandle, o p11.ObjectHandle, a []*p11.Attribute) ([]*p11.Attribute, error)
	SignInit(sh p11.SessionHandle, m []*p11.Mechanism, o p11.ObjectHandle) error
	Sign(sh p11.SessionHandle, message []byte) ([]byte, error)
	DecryptInit(sh p11.SessionHandle, m []*p11.Mechanism, o p11.ObjectHandle) error
	Decrypt(sh p11.SessionHandle, cipher []byte) ([]byte, error)
	GenerateKeyPair(sh p11.SessionHandle, m []*p11.Mechanism, public, private []*p11.Attribute) (p11.ObjectHandle, p11.ObjectHandle, error)
	CreateObject(sh p11.SessionHandle, temp []*p11.Attribute) (p11.ObjectHandle, error)
	DestroyObject(sh p11.SessionHandle, oh p11.ObjectHandle) error
}

var _ ckAPI = (*p11.Ctx)(nil)

// module is one loaded PKCS#11 library. C_Initialize and the login state are
// per process, so there is one module per library path for the whole
// process, shared by every Backend, and it is never finalised: C_Finalize
// would log out and close sessions of every other user of the library in
// this process.
type module struct {
	path string
	ctx  *p11.Ctx
}

var (
	modulesMu sync.Mutex
	modules   = map[string]*module{}
)

// loadModule loads and initialises the library at path once per process.
// CKR_CRYPTOKI_ALREADY_INITIALIZED (another part of the process initialised
// it) is fine.
func loadModule(path string) (*module, error) {
	abs := resolvePath(path)
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m := modules[abs]; m != nil {
		return m, nil
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("pkcs11 module %s: %w", path, err)
	}
	ctx := p11.New(abs)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11 module %s: cannot load library", path)
	}
	if err := ctx.Initialize(); err != nil {
		var e p11.Error
		if !errors.As(err, &e) || e != p11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
			ctx.Destroy()
			return nil, fmt.Errorf("pkcs11 module %s: C_Initialize: %w", path, err)
		}
	}
	m := &module{path: abs, ctx: ctx}
	modules[abs] = m
	return m, nil
}

// resolvePath makes path absolute with symlinks resolved, so one library
// has one key in the module table.
func resolvePath(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// KnownModules lists well-known PKCS#11 module paths for goos ("linux",
// "darwin", "windows"), most common first. Probe returns the ones present.
func KnownModules(goos string) []string {
	switch goos {
	case "linux":
		var out []string
		for _, dir := range []string{"/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/local/lib"} {
			out = append(out,
				dir+"/softhsm/libsofthsm2.so",
				dir+"/opensc-pkcs11.so",
				dir+"/pkcs11/opensc-pkcs11.so",
				dir+"/librtpkcs11ecp.so",      // Rutoken
				dir+"/libjcPKCS11-2.so",       // JaCarta (Aladdin R.D.)
				dir+"/libeTPkcs11.so",         // SafeNet eToken
				dir+"/libIDPrimePKCS11.so",    // Thales IDPrime
				dir+"/libavpkcs11.so",         // Avtor
				dir+"/librtpkcs11ecp_gost.so", // Rutoken (GOST build)
			)
		}
		return append(out, "/opt/aladdin/jcpkcs11-2/lib/libjcPKCS11-2.so", "/opt/avest/lib/libavpkcs11.so")
	case "darwin":
		return []string{
			"/usr/local/lib/softhsm/libsofthsm2.so",
			"/opt/homebrew/lib/softhsm/libsofthsm2.so",
			"/Library/OpenSC/lib/opensc-pkcs11.so",
			"/usr/local/lib/opensc-pkcs11.so",
			"/opt/homebrew/lib/opensc-pkcs11.so",
			"/Library/Frameworks/rtpkcs11ecp.framework/rtpkcs11ecp",
			"/usr/local/lib/librtpkcs11ecp.dylib",
			"/Library/Frameworks/jcPKCS11-2.framework/jcPKCS11-2",
			"/usr/local/lib/libjcPKCS11-2.dylib",
			"/usr/local/lib/libeTPkcs11.dylib",
			"/usr/local/lib/libavpkcs11.dylib",
		}
	case "windows":
		return []string{
			`C:\SoftHSM2\lib\softhsm2-x64.dll`,
			`C:\Program Files\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll`,
			`C:\Windows\System32\rtpkcs11ecp.dll`,
			`C:\Windows\System32\jcPKCS11-2.dll`,
			`C:\Windows\System32\eTPKCS11.dll`,
			`C:\Windows\System32\IDPrimePKCS11.dll`,
			`C:\Windows\System32\avpkcs11.dll`,
		}
	}
	return nil
}

// Probe returns the KnownModules of this OS that exist on this machine,
// without loading them, one path per library (symlinks resolved).
func Probe() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range KnownModules(runtime.GOOS) {
		st, err := os.Stat(p)
		if err != nil || st.IsDir() {
			continue
		}
		real := p
		if r, err := filepath.EvalSymlinks(p); err == nil {
			real = r
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		out = append(out, p)
	}
	return out
}
