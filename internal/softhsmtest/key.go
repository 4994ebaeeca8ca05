package softhsmtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
)

// Key types understood by GenerateKey and NewSoftwareKey, in pkcs11-tool's
// --key-type spelling.
const (
	RSA2048   = "rsa:2048"
	RSA3072   = "rsa:3072"
	RSA4096   = "rsa:4096"
	ECP256    = "EC:prime256v1"
	ECP384    = "EC:secp384r1"
	ECP521    = "EC:secp521r1"
	Ed25519   = "EC:edwards25519"
	maxKeyLen = 1 << 16
)

// KeySpec describes a key pair to generate on a token.
type KeySpec struct {
	Label      string
	ID         []byte // CKA_ID; required, pairs the key with its certificate
	Type       string // RSA2048, ECP256, ECP384, Ed25519, ... ("rsa:2048", "EC:prime256v1", ...)
	AlwaysAuth bool   // set CKA_ALWAYS_AUTHENTICATE on the private key
}

// Key is a key pair on a token, with its certificate when one was imported.
type Key struct {
	Token       *Token
	Label       string
	ID          []byte
	Type        string
	AlwaysAuth  bool
	Public      crypto.PublicKey
	Certificate *x509.Certificate
}

// IDHex is the key's CKA_ID in hex, as pkcs11-tool --id takes it.
func (k *Key) IDHex() string { return hex.EncodeToString(k.ID) }

// GenerateKey generates a key pair on the token with pkcs11-tool
// --keypairgen, then reads the public key back and parses it.
func (t *Token) GenerateKey(spec KeySpec) (*Key, error) {
	if len(spec.ID) == 0 {
		return nil, fmt.Errorf("generate key %q on token %q: KeySpec.ID is required", spec.Label, t.Label)
	}
	if _, err := keyTypeCheck(spec.Type); err != nil {
		return nil, fmt.Errorf("generate key %q on token %q: %w", spec.Label, t.Label, err)
	}
	args := []string{"--login", "--pin", t.UserPIN, "--keypairgen",
		"--key-type", spec.Type, "--id", hex.EncodeToString(spec.ID), "--label", spec.Label}
	if spec.AlwaysAuth {
		args = append(args, "--always-auth")
	}
	if _, err := t.PKCS11Tool(args...); err != nil {
		return nil, fmt.Errorf("generate key %q: %w", spec.Label, err)
	}
	pub, err := t.ReadPublicKey(spec.ID)
	if err != nil {
		return nil, err
	}
	if err := checkPublicType(pub, spec.Type); err != nil {
		return nil, fmt.Errorf("generate key %q on token %q: %w", spec.Label, t.Label, err)
	}
	return &Key{Token: t, Label: spec.Label, ID: append([]byte(nil), spec.ID...), Type: spec.Type,
		AlwaysAuth: spec.AlwaysAuth, Public: pub}, nil
}

// ReadPublicKey reads the public key object with CKA_ID id with
// pkcs11-tool --read-object --type pubkey and parses it.
func (t *Token) ReadPublicKey(id []byte) (crypto.PublicKey, error) {
	f, err := t.tempFile("pub-*.der")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f)
	if _, err := t.PKCS11Tool("--read-object", "--type", "pubkey", "--id", hex.EncodeToString(id), "-o", f); err != nil {
		// OpenSC 0.23 with OpenSSL 3 fails to export some EC keys
		// ("cannot create EVP_PKEY" for secp384r1); fall back to the
		// CKA_EC_POINT and CKA_EC_PARAMS that pkcs11-tool -O prints.
		if pub, err2 := t.readECPointFromListing(id); err2 == nil {
			return pub, nil
		}
		return nil, fmt.Errorf("read public key %x: %w", id, err)
	}
	data, err := os.ReadFile(f)
	if err != nil {
		return nil, fmt.Errorf("read public key %x on token %q: %w", id, t.Label, err)
	}
	pub, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("read public key %x on token %q: %w", id, t.Label, err)
	}
	return pub, nil
}

// ParsePublicKey parses what pkcs11-tool --read-object --type pubkey writes.
// OpenSC 0.23 writes a DER SubjectPublicKeyInfo for RSA and ECDSA keys but a
// PEM "PUBLIC KEY" block for Ed25519 keys; both are accepted. A bare
// Ed25519 point (32 bytes, or a DER OCTET STRING of 32 bytes, i.e.
// CKA_EC_POINT) is accepted too.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	if len(data) > maxKeyLen {
		return nil, fmt.Errorf("public key: %d bytes is too large", len(data))
	}
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("public key: unexpected PEM block %q", block.Type)
		}
		data = block.Bytes
	}
	if pub, err := x509.ParsePKIXPublicKey(data); err == nil {
		return pub, nil
	} else if len(data) == ed25519.PublicKeySize {
		return ed25519.PublicKey(append([]byte(nil), data...)), nil
	} else {
		var point []byte
		if rest, err2 := asn1.Unmarshal(data, &point); err2 == nil && len(rest) == 0 && len(point) == ed25519.PublicKeySize {
			return ed25519.PublicKey(point), nil
		}
		return nil, fmt.Errorf("public key: %w", err)
	}
}

// keyTypeCheck validates a key type string.
func keyTypeCheck(typ string) (string, error) {
	switch typ {
	case RSA2048, RSA3072, RSA4096, ECP256, ECP384, ECP521, Ed25519:
		return typ, nil
	}
	return "", fmt.Errorf("unsupported key type %q", typ)
}

func checkPublicType(pub crypto.PublicKey, typ string) error {
	ok := false
	switch p := pub.(type) {
	case *rsa.PublicKey:
		ok = strings.HasPrefix(typ, "rsa:") && fmt.Sprint(p.N.BitLen()) == strings.TrimPrefix(typ, "rsa:")
	case *ecdsa.PublicKey:
		ok = (typ == ECP256 && p.Curve == elliptic.P256()) ||
			(typ == ECP384 && p.Curve == elliptic.P384()) ||
			(typ == ECP521 && p.Curve == elliptic.P521())
	case ed25519.PublicKey:
		ok = typ == Ed25519
	}
	if !ok {
		return fmt.Errorf("public key read back is %T, want %s", pub, typ)
	}
	return nil
}

// ImportCertificate writes cert to the token as a certificate object with
// CKA_ID id and CKA_LABEL label (pkcs11-tool --write-object --type cert).
// Give it the ID of its key to pair them.
func (t *Token) ImportCertificate(id []byte, label string, cert *x509.Certificate) error {
	f, err := t.tempFile("cert-*.der")
	if err != nil {
		return err
	}
	defer os.Remove(f)
	if err := os.WriteFile(f, cert.Raw, 0o600); err != nil {
		return fmt.Errorf("import certificate %q to token %q: %w", label, t.Label, err)
	}
	args := []string{"--login", "--pin", t.UserPIN, "--write-object", f, "--type", "cert", "--label", label}
	if len(id) > 0 {
		args = append(args, "--id", hex.EncodeToString(id))
	}
	if _, err := t.PKCS11Tool(args...); err != nil {
		return fmt.Errorf("import certificate %q: %w", label, err)
	}
	return nil
}

// DeleteObjects deletes the private key, public key and certificate with
// CKA_ID id (those that exist).
func (t *Token) DeleteObjects(id []byte) error {
	list, err := t.ListObjects()
	if err != nil {
		return err
	}
	types := map[string]string{"Private Key Object": "privkey", "Public Key Object": "pubkey", "Certificate Object": "cert"}
	idLine := "ID:         " + hex.EncodeToString(id)
	var cur string
	var del []string
	for _, line := range strings.Split(list, "\n") {
		for prefix, typ := range types {
			if strings.HasPrefix(line, prefix) {
				cur = typ
			}
		}
		if cur != "" && strings.TrimSpace(line) == strings.TrimSpace(idLine) {
			del = append(del, cur)
			cur = ""
		}
	}
	for _, typ := range del {
		if _, err := t.PKCS11Tool("--login", "--pin", t.UserPIN, "--delete-object", "--type", typ, "--id", hex.EncodeToString(id)); err != nil {
			return fmt.Errorf("delete %s %x: %w", typ, id, err)
		}
	}
	return nil
}

// tempFile makes an empty temporary file for pkcs11-tool input or output
// (public keys and certificates only, nothing secret).
func (t *Token) tempFile(pattern string) (string, error) {
	f, err := os.CreateTemp("", "softhsmtest-"+pattern)
	if err != nil {
		return "", fmt.Errorf("token %q: temp file: %w", t.Label, err)
	}
	name := f.Name()
	f.Close()
	return name, nil
}

// readECPointFromListing finds the public key object with CKA_ID id in
// `pkcs11-tool -O` output and builds the key from its EC_POINT and
// EC_PARAMS lines.
func (t *Token) readECPointFromListing(id []byte) (crypto.PublicKey, error) {
	out, err := t.PKCS11Tool("--list-objects", "--type", "pubkey")
	if err != nil {
		return nil, err
	}
	return ecPublicFromListing(string(out), id)
}

func ecPublicFromListing(list string, id []byte) (crypto.PublicKey, error) {
	var point, params string
	inPub := false
	for _, line := range strings.Split(list, "\n") {
		if !strings.HasPrefix(line, " ") {
			inPub = strings.HasPrefix(line, "Public Key Object")
			point, params = "", ""
			continue
		}
		if !inPub {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "EC_POINT:":
			point = f[1]
		case "EC_PARAMS:":
			params = f[1]
		case "ID:":
			if f[1] == hex.EncodeToString(id) && point != "" && params != "" {
				return ecPublicFromAttributes(point, params)
			}
		}
	}
	return nil, fmt.Errorf("no EC public key with ID %x in listing", id)
}

// ecPublicFromAttributes builds an ECDSA public key from hex CKA_EC_POINT
// (a DER OCTET STRING holding the uncompressed point) and hex
// CKA_EC_PARAMS (a named-curve OID).
func ecPublicFromAttributes(pointHex, paramsHex string) (crypto.PublicKey, error) {
	pointDER, err := hex.DecodeString(pointHex)
	if err != nil {
		return nil, fmt.Errorf("EC_POINT: %w", err)
	}
	paramsDER, err := hex.DecodeString(paramsHex)
	if err != nil {
		return nil, fmt.Errorf("EC_PARAMS: %w", err)
	}
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(paramsDER, &oid); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("EC_PARAMS is not a named curve")
	}
	var point []byte
	if rest, err := asn1.Unmarshal(pointDER, &point); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("EC_POINT is not an OCTET STRING")
	}
	// Re-use the SPKI parser, which checks the point is on the curve.
	spki, err := asn1.Marshal(struct {
		Alg struct {
			Algorithm asn1.ObjectIdentifier
			Curve     asn1.ObjectIdentifier
		}
		Key asn1.BitString
	}{
		Alg: struct {
			Algorithm asn1.ObjectIdentifier
			Curve     asn1.ObjectIdentifier
		}{asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, oid},
		Key: asn1.BitString{Bytes: point, BitLength: 8 * len(point)},
	})
	if err != nil {
		return nil, err
	}
	return x509.ParsePKIXPublicKey(spki)
}
