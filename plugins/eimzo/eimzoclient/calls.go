package eimzoclient

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Caller sends one request and returns its reply; *Client (a connection
// per call) and *Conn (one kept-open connection) implement it.
type Caller interface {
	Call(ctx context.Context, req Request) (*Reply, error)
}

// Version is the reply of version. The fields are strings, as
// E-IMZO sends them.
type Version struct {
	Major, Minor, Patch, Edition string
}

// Number is major*100+minor, the number the official client gates features
// on (≥ 336 list_all_certificates, ≥ 486 every current flow).
func (v Version) Number() int {
	ma, _ := strconv.Atoi(v.Major)
	mi, _ := strconv.Atoi(v.Minor)
	return ma*100 + mi
}

func (v Version) String() string {
	return v.Major + "." + v.Minor + "." + v.Patch + " " + v.Edition
}

// Certificate is one entry of pfx.list_all_certificates: the disk (with its
// trailing separator), the folder ("" or "DSKEYS"), the file name without
// .pfx, and the PKCS#12 alias (ParseAlias reads it).
type Certificate struct {
	Disk  string `json:"disk"`
	Path  string `json:"path"`
	Name  string `json:"name"`
	Alias string `json:"alias"`
}

// LoadedKey is the reply of load_key: the keyId (32 lowercase hex digits)
// and its type ("PFX_KEY_STORE").
type LoadedKey struct {
	KeyID string
	Type  string
}

// PKCS7 is the reply of create_pkcs7.
type PKCS7 struct {
	// PKCS7 is the CMS ContentInfo, decoded from pkcs7_64.
	PKCS7 []byte
	// Base64 is pkcs7_64 as sent.
	Base64 string
	// SignatureHex is hex of the SignerInfo's signature value.
	SignatureHex string
	// SignerSerialNumber is the signer certificate's serial in lowercase
	// hex.
	SignerSerialNumber string
}

// call sends one request for plugin.name with args over c.
func call(ctx context.Context, c Caller, plugin, name string, args ...string) (*Reply, error) {
	return c.Call(ctx, Request{Plugin: plugin, Name: name, Arguments: args})
}

func version(ctx context.Context, c Caller) (Version, error) {
	r, err := call(ctx, c, "", "version")
	if err != nil {
		return Version{}, err
	}
	v := Version{Major: r.String("major"), Minor: r.String("minor"), Patch: r.String("patch"), Edition: r.String("edition")}
	if v.Major == "" {
		return v, fmt.Errorf("eimzo version: no major version in %s: %w", r.Raw, ErrMalformedReply)
	}
	return v, nil
}

func apiKey(ctx context.Context, c Caller, pairs ...string) (string, error) {
	if len(pairs) == 0 || len(pairs)%2 != 0 {
		return "", fmt.Errorf("eimzo apikey: want domain, key pairs, got %d arguments", len(pairs))
	}
	r, err := call(ctx, c, "", "apikey", pairs...)
	if err != nil {
		return "", err
	}
	return r.String("message"), nil
}

func listAllCertificates(ctx context.Context, c Caller) ([]Certificate, error) {
	r, err := call(ctx, c, "pfx", "list_all_certificates")
	if err != nil {
		return nil, err
	}
	var certs []Certificate
	if err := r.Decode("certificates", &certs); err != nil {
		return nil, fmt.Errorf("eimzo pfx.list_all_certificates: %w", err)
	}
	return certs, nil
}

func loadKey(ctx context.Context, c Caller, cert Certificate) (LoadedKey, error) {
	r, err := call(ctx, c, "pfx", "load_key", cert.Disk, cert.Path, cert.Name, cert.Alias)
	if err != nil {
		return LoadedKey{}, err
	}
	k := LoadedKey{KeyID: r.String("keyId"), Type: r.String("type")}
	if k.KeyID == "" {
		return k, fmt.Errorf("eimzo pfx.load_key: no keyId in the reply: %w", ErrMalformedReply)
	}
	return k, nil
}

func createPKCS7(ctx context.Context, c Caller, data []byte, keyID string, detached bool) (PKCS7, error) {
	flag := "no"
	if detached {
		flag = "yes"
	}
	r, err := call(ctx, c, "pkcs7", "create_pkcs7", base64.StdEncoding.EncodeToString(data), keyID, flag)
	if err != nil {
		return PKCS7{}, err
	}
	p := PKCS7{Base64: r.String("pkcs7_64"), SignatureHex: r.String("signature_hex"), SignerSerialNumber: r.String("signer_serial_number")}
	if p.PKCS7, err = base64.StdEncoding.DecodeString(p.Base64); err != nil || len(p.PKCS7) == 0 {
		return p, fmt.Errorf("eimzo pkcs7.create_pkcs7: pkcs7_64 is not base64: %w", ErrMalformedReply)
	}
	if _, err := hex.DecodeString(p.SignatureHex); err != nil || p.SignatureHex == "" {
		return p, fmt.Errorf("eimzo pkcs7.create_pkcs7: signature_hex is not hex: %w", ErrMalformedReply)
	}
	return p, nil
}

// CallFunction calls plugin.name (plugin "" for main functions) with
// string arguments over a new connection.
func (c *Client) CallFunction(ctx context.Context, plugin, name string, args ...string) (*Reply, error) {
	return call(ctx, c, plugin, name, args...)
}

// Version calls version.
func (c *Client) Version(ctx context.Context) (Version, error) { return version(ctx, c) }

// APIKey calls apikey with domain, key pairs and returns the reply's
// message (the caller's Origin as the server saw it).
func (c *Client) APIKey(ctx context.Context, pairs ...string) (string, error) {
	return apiKey(ctx, c, pairs...)
}

// ListAllCertificates calls pfx.list_all_certificates.
func (c *Client) ListAllCertificates(ctx context.Context) ([]Certificate, error) {
	return listAllCertificates(ctx, c)
}

// LoadKey calls pfx.load_key for a listed certificate.
func (c *Client) LoadKey(ctx context.Context, cert Certificate) (LoadedKey, error) {
	return loadKey(ctx, c, cert)
}

// CreatePKCS7 calls pkcs7.create_pkcs7 for data (sent base64-encoded) with
// keyID (a keyId from LoadKey, or "ckc", "idcard", "baikey"), detached or
// attached.
func (c *Client) CreatePKCS7(ctx context.Context, data []byte, keyID string, detached bool) (PKCS7, error) {
	return createPKCS7(ctx, c, data, keyID, detached)
}

// CallFunction is Client.CallFunction over the kept-open connection.
func (k *Conn) CallFunction(ctx context.Context, plugin, name string, args ...string) (*Reply, error) {
	return call(ctx, k, plugin, name, args...)
}

// Version is Client.Version over the kept-open connection.
func (k *Conn) Version(ctx context.Context) (Version, error) { return version(ctx, k) }

// APIKey is Client.APIKey over the kept-open connection.
func (k *Conn) APIKey(ctx context.Context, pairs ...string) (string, error) {
	return apiKey(ctx, k, pairs...)
}

// ListAllCertificates is Client.ListAllCertificates over the kept-open
// connection.
func (k *Conn) ListAllCertificates(ctx context.Context) ([]Certificate, error) {
	return listAllCertificates(ctx, k)
}

// LoadKey is Client.LoadKey over the kept-open connection.
func (k *Conn) LoadKey(ctx context.Context, cert Certificate) (LoadedKey, error) {
	return loadKey(ctx, k, cert)
}

// CreatePKCS7 is Client.CreatePKCS7 over the kept-open connection.
func (k *Conn) CreatePKCS7(ctx context.Context, data []byte, keyID string, detached bool) (PKCS7, error) {
	return createPKCS7(ctx, k, data, keyID, detached)
}
