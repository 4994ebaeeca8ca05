package pfx

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf16"
	"unsafe"

	"github.com/signet-agent/signet/sdk/certs"
	"github.com/signet-agent/signet/sdk/gost"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// MaxFileSize bounds the PFX files the backend reads. Real key files are a
// few KiB; anything larger is refused with ErrTooLarge.
const MaxFileSize = 1 << 20

// maxIterations bounds the KDF iteration counts a file may ask for, so a
// hostile file cannot stall a listing (OpenSSL and Windows use 2000–2048,
// Java 10000; 1e6 costs about 0.1 s per try). A variable for the fuzz test.
var maxIterations = 1_000_000

// maxBags bounds the number of safe bags read from one file.
const maxBags = 256

// ErrTooLarge is returned for files over MaxFileSize.
var ErrTooLarge = errors.New("file too large for a PFX key file")

// ErrMalformed is returned for files that are not a PKCS#12 structure this
// backend can read.
var ErrMalformed = errors.New("not a readable PKCS#12 file")

var (
	oidData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidX509Cert        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidFriendlyName    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidLocalKeyID      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	oidPBES2           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBMAC1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	oidPBKDF2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidPKCS12PBEPrefix = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}
)

type pfxPDU struct {
	Version  int
	AuthSafe contentInfo
	MacData  macData `asn1:"optional"`
}

type macData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type encryptedData struct {
	Version              int
	EncryptedContentInfo struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Content     []byte `asn1:"tag:0,optional"`
	}
}

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

type safeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue `asn1:"tag:0,explicit"`
	Attributes []attribute   `asn1:"set,optional"`
}

type attribute struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"set"`
}

type certBag struct {
	ID   asn1.ObjectIdentifier
	Data []byte `asn1:"tag:0,explicit"`
}

type pbeParams struct {
	Salt       []byte
	Iterations int
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       asn1.RawValue
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// listing is what a PFX file shows without a password.
type listing struct {
	// keys are the key bags found in unencrypted content, in file order.
	keys []bagKey
	// certs are the certificates found in unencrypted content.
	certs []bagCert
	// encrypted is set when the file has encrypted content (usually the
	// certificates; in some files also the key bags).
	encrypted bool
	// hasMAC is set when the file is integrity-protected by a password.
	hasMAC bool
}

type bagKey struct {
	friendlyName string
	localKeyID   []byte
	plain        crypto.PrivateKey // an unencrypted keyBag; nil when shrouded
}

type bagCert struct {
	friendlyName string
	localKeyID   []byte
	cert         *x509.Certificate
}

func unmarshal(in []byte, out any) error {
	rest, err := asn1.Unmarshal(in, out)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("trailing data")
	}
	return nil
}

// parseListing reads the parts of a PFX file that need no password: the
// structure, unencrypted bags and their attributes. It checks every KDF
// iteration count against maxIterations, so a later decode with a password
// is bounded in time. It never panics on any input (FuzzListPFX).
func parseListing(data []byte) (*listing, error) {
	if len(data) > MaxFileSize {
		return nil, ErrTooLarge
	}
	var pfx pfxPDU
	if err := unmarshal(data, &pfx); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if pfx.Version != 3 {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, pfx.Version)
	}
	if !pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil, fmt.Errorf("%w: public-key protected PFX is not supported", ErrMalformed)
	}
	l := &listing{}
	if len(pfx.MacData.Mac.Algorithm.Algorithm) != 0 {
		l.hasMAC = true
		if pfx.MacData.Iterations > maxIterations || pfx.MacData.Iterations < 0 {
			return nil, fmt.Errorf("%w: MAC iteration count %d", ErrMalformed, pfx.MacData.Iterations)
		}
		if pfx.MacData.Mac.Algorithm.Algorithm.Equal(oidPBMAC1) {
			if err := checkPBMAC1(pfx.MacData.Mac.Algorithm); err != nil {
				return nil, err
			}
		}
	}
	var authSafeBytes []byte
	if err := unmarshal(pfx.AuthSafe.Content.Bytes, &authSafeBytes); err != nil {
		return nil, fmt.Errorf("%w: auth safe: %v", ErrMalformed, err)
	}
	var cis []contentInfo
	if err := unmarshal(authSafeBytes, &cis); err != nil {
		return nil, fmt.Errorf("%w: auth safe: %v", ErrMalformed, err)
	}
	nbags := 0
	for _, ci := range cis {
		switch {
		case ci.ContentType.Equal(oidData):
			var octets []byte
			if err := unmarshal(ci.Content.Bytes, &octets); err != nil {
				return nil, fmt.Errorf("%w: safe contents: %v", ErrMalformed, err)
			}
			var bags []safeBag
			if err := unmarshal(octets, &bags); err != nil {
				return nil, fmt.Errorf("%w: safe contents: %v", ErrMalformed, err)
			}
			for _, bag := range bags {
				if nbags++; nbags > maxBags {
					return nil, fmt.Errorf("%w: more than %d bags", ErrMalformed, maxBags)
				}
				if err := l.addBag(bag); err != nil {
					return nil, err
				}
			}
		case ci.ContentType.Equal(oidEncryptedData):
			var ed encryptedData
			if err := unmarshal(ci.Content.Bytes, &ed); err != nil {
				return nil, fmt.Errorf("%w: encrypted data: %v", ErrMalformed, err)
			}
			if err := checkPBE(ed.EncryptedContentInfo.Algorithm); err != nil {
				return nil, err
			}
			l.encrypted = true
		default:
			return nil, fmt.Errorf("%w: content type %v", ErrMalformed, ci.ContentType)
		}
	}
	return l, nil
}

func (l *listing) addBag(bag safeBag) error {
	name, id := bagAttributes(bag.Attributes)
	switch {
	case bag.ID.Equal(oidShroudedKeyBag):
		var epki encryptedPrivateKeyInfo
		if err := unmarshal(bag.Value.Bytes, &epki); err != nil {
			return fmt.Errorf("%w: key bag: %v", ErrMalformed, err)
		}
		if err := checkPBE(epki.Algorithm); err != nil {
			return err
		}
		l.keys = append(l.keys, bagKey{friendlyName: name, localKeyID: id})
	case bag.ID.Equal(oidKeyBag):
		k, err := parsePrivateKey(bag.Value.Bytes)
		if err != nil {
			return fmt.Errorf("key bag: %w", err)
		}
		l.keys = append(l.keys, bagKey{friendlyName: name, localKeyID: id, plain: k})
	case bag.ID.Equal(oidCertBag):
		var cb certBag
		if err := unmarshal(bag.Value.Bytes, &cb); err != nil {
			return fmt.Errorf("%w: certificate bag: %v", ErrMalformed, err)
		}
		if !cb.ID.Equal(oidX509Cert) {
			return nil // SDSI certificates and the like: not ours
		}
		c, err := parseCertificate(cb.Data)
		if err != nil {
			return err
		}
		l.certs = append(l.certs, bagCert{friendlyName: name, localKeyID: id, cert: c})
	}
	// CRL, secret and nested bags carry nothing we list.
	return nil
}

// bagAttributes returns the friendlyName and localKeyId of a bag; malformed
// attributes are ignored (they only name things).
func bagAttributes(attrs []attribute) (name string, id []byte) {
	for _, a := range attrs {
		switch {
		case a.ID.Equal(oidFriendlyName):
			var raw asn1.RawValue
			if err := unmarshal(a.Value.Bytes, &raw); err == nil && raw.Tag == asn1.TagBMPString {
				if s, ok := decodeBMP(raw.Bytes); ok {
					name = s
				}
			}
		case a.ID.Equal(oidLocalKeyID):
			var b []byte
			if err := unmarshal(a.Value.Bytes, &b); err == nil {
				id = b
			}
		}
	}
	return name, id
}

func decodeBMP(b []byte) (string, bool) {
	if len(b)%2 != 0 {
		return "", false
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	if len(u) > 0 && u[len(u)-1] == 0 {
		u = u[:len(u)-1]
	}
	return string(utf16.Decode(u)), true
}

// checkPBE bounds the iteration count of a PKCS#12 PBE or PBES2 algorithm.
// Unknown algorithms pass: go-pkcs12 refuses them later with a clear error.
func checkPBE(alg pkix.AlgorithmIdentifier) error {
	var iter int
	switch {
	case len(alg.Algorithm) == len(oidPKCS12PBEPrefix)+1 && alg.Algorithm[:len(oidPKCS12PBEPrefix)].Equal(oidPKCS12PBEPrefix):
		var p pbeParams
		if err := unmarshal(alg.Parameters.FullBytes, &p); err != nil {
			return fmt.Errorf("%w: PBE parameters: %v", ErrMalformed, err)
		}
		iter = p.Iterations
	case alg.Algorithm.Equal(oidPBES2):
		var p pbes2Params
		if err := unmarshal(alg.Parameters.FullBytes, &p); err != nil {
			return fmt.Errorf("%w: PBES2 parameters: %v", ErrMalformed, err)
		}
		return checkPBKDF2(p.KDF)
	default:
		return nil
	}
	if iter < 0 || iter > maxIterations {
		return fmt.Errorf("%w: iteration count %d over %d", ErrMalformed, iter, maxIterations)
	}
	return nil
}

func checkPBKDF2(kdf pkix.AlgorithmIdentifier) error {
	if !kdf.Algorithm.Equal(oidPBKDF2) {
		return nil
	}
	var p pbkdf2Params
	if err := unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
		return fmt.Errorf("%w: PBKDF2 parameters: %v", ErrMalformed, err)
	}
	if p.Iterations < 0 || p.Iterations > maxIterations {
		return fmt.Errorf("%w: iteration count %d over %d", ErrMalformed, p.Iterations, maxIterations)
	}
	return nil
}

func checkPBMAC1(alg pkix.AlgorithmIdentifier) error {
	var p struct {
		KDF pkix.AlgorithmIdentifier
		MAC pkix.AlgorithmIdentifier
	}
	if err := unmarshal(alg.Parameters.FullBytes, &p); err != nil {
		return fmt.Errorf("%w: PBMAC1 parameters: %v", ErrMalformed, err)
	}
	return checkPBKDF2(p.KDF)
}

// decoded is a file's content after decryption with the password.
type decoded struct {
	keys  []decodedKey
	certs []*x509.Certificate
}

type decodedKey struct {
	friendlyName string
	localKeyID   []byte
	key          crypto.Signer
}

// decode decrypts data with password: with go-pkcs12, and the files it
// refuses (GOST and O'zDSt keys, GOST ciphers and MACs) with
// decodePBES2File. It returns an error matching
// pkcs12.ErrIncorrectPassword when the password is wrong. password is read,
// not kept; the caller wipes it.
//
// go-pkcs12 takes the password as a string, so decode passes a string that
// aliases the caller's byte slice (no copy the caller cannot wipe; go-pkcs12
// does not retain it). go-pkcs12 makes its own BMPString copy internally,
// which is garbage once it returns and cannot be wiped from here.
func decode(data, password []byte) (*decoded, error) {
	pw := ""
	if len(password) > 0 {
		pw = unsafe.String(unsafe.SliceData(password), len(password))
	}
	key, leaf, cas, err := pkcs12.DecodeChain(data, pw)
	if err == nil {
		s, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: unsupported private key type %T", ErrMalformed, key)
		}
		return &decoded{keys: []decodedKey{{key: s}}, certs: append([]*x509.Certificate{leaf}, cas...)}, nil
	}
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, err
	}
	// DecodeChain wants exactly one key and at least one certificate.
	// ToPEM reads several keys (RSA and ECDSA) with their attributes, and
	// files with certificates only.
	//lint:ignore SA1019 ToPEM is the only go-pkcs12 call that reads several keys; we parse its blocks ourselves, not as PEM files
	blocks, perr := pkcs12.ToPEM(data, pw)
	if perr != nil {
		if errors.Is(perr, pkcs12.ErrIncorrectPassword) {
			return nil, perr
		}
		// GOST keys, ciphers or MACs: the path beside go-pkcs12.
		d, gerr := decodePBES2File(data, password)
		if gerr == nil || errors.Is(gerr, pkcs12.ErrIncorrectPassword) {
			return d, gerr
		}
		if errors.Is(gerr, errUnsupportedAlgo) {
			return nil, fmt.Errorf("%w: %v; %v", ErrMalformed, err, gerr)
		}
		return nil, gerr
	}
	d := &decoded{}
	for _, b := range blocks {
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: certificate: %v", ErrMalformed, err)
			}
			d.certs = append(d.certs, c)
		case "PRIVATE KEY":
			k, err := parsePEMKey(b)
			if err != nil {
				return nil, err
			}
			id, _ := hex.DecodeString(b.Headers["localKeyId"])
			d.keys = append(d.keys, decodedKey{friendlyName: b.Headers["friendlyName"], localKeyID: id, key: k})
		}
		wipe(b.Bytes)
	}
	return d, nil
}

// parsePEMKey parses ToPEM's key blocks (PKCS#1 or SEC 1 despite the label).
func parsePEMKey(b *pem.Block) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(b.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: unreadable private key", ErrMalformed)
}

// derivedAlias names the i-th visible key bag: its friendlyName, else the
// hex of its localKeyId, else "key<i>". Only what is readable without the
// password is used, so the alias (and the key URI) is the same before and
// after unlocking and across restarts.
func derivedAlias(k bagKey, i int) string {
	switch {
	case k.friendlyName != "":
		return k.friendlyName
	case len(k.localKeyID) > 0:
		return hex.EncodeToString(k.localKeyID)
	}
	return "key" + strconv.Itoa(i)
}

// leafAndChain picks the certificate of pub (or, when pub is nil, the one
// certificate that issued no other) and returns it with the others: its
// issuers nearest first (certs.Issuers), then the certificates outside its
// path in file order.
func leafAndChain(all []*x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, []*x509.Certificate) {
	if len(all) == 0 {
		return nil, nil
	}
	var leaf *x509.Certificate
	if pub != nil {
		if leaf = certs.ForKey(all, pub); leaf == nil {
			return nil, nil
		}
	} else {
		for _, c := range all {
			issuedOther := false
			for _, o := range all {
				if o != c && bytes.Equal(o.RawIssuer, c.RawSubject) && !bytes.Equal(o.RawSubject, c.RawSubject) {
					issuedOther = true
					break
				}
			}
			if !issuedOther {
				leaf = c
				break
			}
		}
		if leaf == nil {
			leaf = all[0]
		}
	}
	chain := certs.Issuers(leaf, all)
	for _, c := range all { // certificates outside the path, in file order
		if c != leaf && !slices.Contains(chain, c) {
			chain = append(chain, c)
		}
	}
	return leaf, chain
}

// wipeKey overwrites the private key material it can reach. Best effort:
// the Go runtime may hold copies (for example crypto/rsa's precomputed
// values), which become garbage with the key.
func wipeKey(k crypto.PrivateKey) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		wipeInt(k.D)
		for _, p := range k.Primes {
			wipeInt(p)
		}
		wipeInt(k.Precomputed.Dp)
		wipeInt(k.Precomputed.Dq)
		wipeInt(k.Precomputed.Qinv)
	case *ecdsa.PrivateKey:
		//lint:ignore SA1019 best-effort wipe of the scalar we decoded; the key is discarded right after
		wipeInt(k.D)
	case ed25519.PrivateKey:
		wipe(k)
	case *gost.PrivateKey:
		// D only: the package keeps a byte copy of the scalar it does
		// not expose, which becomes garbage with the key.
		wipeInt(k.D)
	}
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
