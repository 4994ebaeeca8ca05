package cms

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// RFC 3161 timestamps: a TSA client, attaching a token as the
// signatureTimeStampToken unsigned attribute (CAdES-T), and verifying one.

// TSTInfo is the content of a timestamp token (RFC 3161 §2.4.2).
type TSTInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint MessageImprint
	SerialNumber   *big.Int
	GenTime        time.Time     `asn1:"generalized"`
	Accuracy       TSAccuracy    `asn1:"optional"`
	Ordering       bool          `asn1:"optional,default:false"`
	Nonce          *big.Int      `asn1:"optional"`
	TSA            asn1.RawValue `asn1:"optional,explicit,tag:0"`
	Extensions     asn1.RawValue `asn1:"optional,tag:1"`
}

// TSAccuracy is the TSTInfo accuracy.
type TSAccuracy struct {
	Seconds int `asn1:"optional"`
	Millis  int `asn1:"optional,tag:0"`
	Micros  int `asn1:"optional,tag:1"`
}

// MessageImprint is the hashed value a timestamp covers.
type MessageImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

// ParseTimestampToken parses a token (ContentInfo(SignedData) over
// TSTInfo) without verifying it.
func ParseTimestampToken(token []byte) (*SignedData, *TSTInfo, error) {
	sd, err := ParseSignedData(token)
	if err != nil {
		return nil, nil, fmt.Errorf("timestamp token: %w", err)
	}
	if !sd.ContentType.Equal(OIDTSTInfo) || !sd.HasContent {
		return nil, nil, fmt.Errorf("%w: timestamp token content is not TSTInfo", ErrMalformed)
	}
	var info TSTInfo
	rest, err := asn1.Unmarshal(sd.Content, &info)
	if err != nil || len(rest) > 0 {
		return nil, nil, fmt.Errorf("%w: TSTInfo: %v", ErrMalformed, err)
	}
	return sd, &info, nil
}

// verifyTimestampToken verifies a signatureTimeStampToken over sig: the
// imprint must be the hash of sig, and the token's signature and chain
// (at genTime, with timeStamping usage) must verify.
func verifyTimestampToken(token, sig []byte, o *VerifyOptions, outerCerts []*x509.Certificate) *TimestampReport {
	tr := &TimestampReport{ChainStatus: ChainNotChecked}
	fail := func(reason error, format string, args ...any) {
		tr.Errors = append(tr.Errors, fmt.Errorf("%w: %s", reason, fmt.Sprintf(format, args...)))
	}
	sd, info, err := ParseTimestampToken(token)
	if err != nil {
		fail(ErrTimestampInvalid, "%v", err)
		return tr
	}
	tr.Time = info.GenTime
	tr.SerialNumber = info.SerialNumber
	tr.Policy = info.Policy
	tr.HashAlgorithm = info.MessageImprint.HashAlgorithm.Algorithm
	reg := registryOr(o.Registry)
	d, err := reg.DigestByOID(info.MessageImprint.HashAlgorithm.Algorithm)
	if err != nil {
		fail(ErrTimestampInvalid, "imprint: %v", err)
		return tr
	}
	h := d.newHash()
	h.Write(sig)
	if !bytes.Equal(h.Sum(nil), info.MessageImprint.HashedMessage) {
		fail(ErrTimestampImprintMismatch, "%s of the signature value differs from the token's imprint", d.Name)
	}
	if len(sd.Signers) != 1 {
		fail(ErrTimestampInvalid, "token has %d signers", len(sd.Signers))
		return tr
	}
	digests, err := contentDigests(sd, nil, o)
	if err != nil {
		fail(ErrTimestampInvalid, "%v", err)
		return tr
	}
	to := *o
	to.Time = info.GenTime
	sr := verifySigner(sd, 0, digests, &to, true, outerCerts)
	tr.Certificate = sr.Certificate
	tr.TSA = sr.Subject
	tr.ChainStatus = sr.ChainStatus
	for _, e := range sr.Errors {
		fail(ErrTimestampInvalid, "TSA signer: %v", e)
	}
	return tr
}

// AttachTimestamp adds token (a DER RFC 3161 TimeStampToken, e.g. from
// TSAClient or obtained elsewhere) as the signatureTimeStampToken unsigned
// attribute of signer signerIndex and returns the DER message. Other
// signers are kept byte for byte; the token is not verified here (Verify
// does that) except that it must parse.
func AttachTimestamp(signedData []byte, signerIndex int, token []byte) ([]byte, error) {
	sd, err := ParseSignedData(signedData)
	if err != nil {
		return nil, err
	}
	if signerIndex < 0 || signerIndex >= len(sd.Signers) {
		return nil, fmt.Errorf("cms: attach timestamp: no signer %d (the message has %d)", signerIndex, len(sd.Signers))
	}
	tokDER, err := normalizeBER(token)
	if err != nil {
		return nil, fmt.Errorf("cms: attach timestamp: token: %w", err)
	}
	if _, _, err := ParseTimestampToken(tokDER); err != nil {
		return nil, fmt.Errorf("cms: attach timestamp: %w", err)
	}
	si := sd.Signers[signerIndex]
	attr, err := marshalAttribute(Attribute{Type: OIDAttributeSignatureTimeStampToken, Values: [][]byte{tokDER}})
	if err != nil {
		return nil, err
	}
	raws := append(append([][]byte(nil), si.rawUnsigned...), attr)
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(si.rawBeforeUnsigned)
		b.AddASN1(casn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			for _, r := range raws {
				b.AddBytes(r)
			}
		})
	})
	newSI, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	sis := make([][]byte, len(sd.Signers))
	for i, s := range sd.Signers {
		sis[i] = s.Raw
	}
	sis[signerIndex] = newSI
	return sd.reencode(sd.rawDigestAlgs, sd.RawCertificates, sis)
}

// AttachTimestampBySerial is AttachTimestamp for the signer whose
// certificate serial, in hex, is serialHex (E-IMZO's
// attach_timestamp_token_pkcs7 addresses signers this way).
func AttachTimestampBySerial(signedData []byte, serialHex string, token []byte) ([]byte, error) {
	sd, err := ParseSignedData(signedData)
	if err != nil {
		return nil, err
	}
	want, ok := new(big.Int).SetString(serialHex, 16)
	if !ok {
		return nil, fmt.Errorf("cms: attach timestamp: serial %q is not hex", serialHex)
	}
	for i, s := range sd.Signers {
		if s.SerialNumber != nil && s.SerialNumber.Cmp(want) == 0 {
			return AttachTimestamp(signedData, i, token)
		}
	}
	return nil, fmt.Errorf("cms: attach timestamp: no signer with serial %s", serialHex)
}

// reencode writes the SignedData again with the given digest algorithms,
// certificates and SignerInfos (raw DER), keeping the content and CRLs.
func (sd *SignedData) reencode(digestAlgs, certs, signerInfos [][]byte) ([]byte, error) {
	var content []byte
	if sd.HasContent {
		content = sd.Content
		if content == nil {
			content = []byte{}
		}
	}
	version := int64(sd.Version)
	if len(signerInfos) > len(sd.Signers) && version < signedDataVersion(sd.ContentType) {
		version = signedDataVersion(sd.ContentType)
	}
	out, err := encodeSignedData(version, digestAlgs, sd.ContentType, content, certs, sd.RawCRLs, signerInfos)
	if err != nil {
		return nil, fmt.Errorf("cms: encode SignedData: %w", err)
	}
	return out, nil
}

// DefaultMaxTSAResponse bounds a TSA response read by TSAClient.
const DefaultMaxTSAResponse = 1 << 20

// ErrTSA is returned (wrapped) when a TSA refuses or answers badly.
var ErrTSA = errors.New("cms: timestamp authority")

// TSAClient requests RFC 3161 timestamps over HTTP.
type TSAClient struct {
	URL string
	// HTTPClient nil means http.DefaultClient.
	HTTPClient *http.Client
	// Hash for the message imprint; 0 means SHA-256.
	Hash crypto.Hash
	// Policy is the requested TSA policy (optional).
	Policy asn1.ObjectIdentifier
	// NoCertReq clears certReq (by default the TSA is asked to include its
	// certificate, which verification needs).
	NoCertReq bool
	// MaxResponseSize bounds the response; 0 means DefaultMaxTSAResponse.
	MaxResponseSize int64
	// Header is added to the request (e.g. authorisation).
	Header http.Header
}

// RequestDigest obtains a token for a digest computed with c.Hash and
// returns the DER TimeStampToken after checking status, imprint and nonce.
func (c *TSAClient) RequestDigest(ctx context.Context, digest []byte) ([]byte, error) {
	hf := c.Hash
	if hf == 0 {
		hf = crypto.SHA256
	}
	if len(digest) != hf.Size() {
		return nil, fmt.Errorf("cms: timestamp: digest is %d bytes, %v needs %d", len(digest), hf, hf.Size())
	}
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	req := timestamp.Request{HashAlgorithm: hf, HashedMessage: digest, Certificates: !c.NoCertReq, TSAPolicyOID: c.Policy, Nonce: nonce}
	body, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("cms: timestamp request: %w", err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("cms: timestamp request: %w", err)
	}
	for k, v := range c.Header {
		hr.Header[k] = v
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTSA, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: HTTP status %s", ErrTSA, resp.Status)
	}
	limit := c.MaxResponseSize
	if limit <= 0 {
		limit = DefaultMaxTSAResponse
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read response: %v", ErrTSA, err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("%w: response larger than %d bytes", ErrTSA, limit)
	}
	token, err := parseTSAResponse(raw)
	if err != nil {
		return nil, err
	}
	_, info, err := ParseTimestampToken(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTSA, err)
	}
	if !bytes.Equal(info.MessageImprint.HashedMessage, digest) {
		return nil, fmt.Errorf("%w: token imprint differs from the request", ErrTSA)
	}
	if info.Nonce == nil || info.Nonce.Cmp(nonce) != 0 {
		return nil, fmt.Errorf("%w: token nonce differs from the request", ErrTSA)
	}
	return token, nil
}

// RequestSignature obtains a token over a SignerInfo signature value (the
// CAdES-T imprint: hash of the signature value).
func (c *TSAClient) RequestSignature(ctx context.Context, signature []byte) ([]byte, error) {
	hf := c.Hash
	if hf == 0 {
		hf = crypto.SHA256
	}
	h := hf.New()
	h.Write(signature)
	return c.RequestDigest(ctx, h.Sum(nil))
}

// Timestamp requests a token for signer signerIndex of signedData and
// attaches it (CAdES-T).
func (c *TSAClient) Timestamp(ctx context.Context, signedData []byte, signerIndex int) ([]byte, error) {
	sd, err := ParseSignedData(signedData)
	if err != nil {
		return nil, err
	}
	if signerIndex < 0 || signerIndex >= len(sd.Signers) {
		return nil, fmt.Errorf("cms: timestamp: no signer %d", signerIndex)
	}
	tok, err := c.RequestSignature(ctx, sd.Signers[signerIndex].Signature)
	if err != nil {
		return nil, err
	}
	return AttachTimestamp(signedData, signerIndex, tok)
}

// parseTSAResponse reads TimeStampResp and returns the token when the
// status is granted (0) or grantedWithMods (1).
func parseTSAResponse(raw []byte) ([]byte, error) {
	der, err := normalizeBER(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: response: %v", ErrTSA, err)
	}
	in := cryptobyte.String(der)
	var resp, status cryptobyte.String
	if !in.ReadASN1(&resp, casn1.SEQUENCE) || !in.Empty() || !resp.ReadASN1(&status, casn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: malformed response", ErrTSA)
	}
	var st int64
	if !status.ReadASN1Int64WithTag(&st, casn1.INTEGER) {
		return nil, fmt.Errorf("%w: malformed response status", ErrTSA)
	}
	if st != 0 && st != 1 {
		var text []string
		var strs cryptobyte.String
		if status.ReadASN1(&strs, casn1.SEQUENCE) {
			for !strs.Empty() {
				var s cryptobyte.String
				if !strs.ReadASN1(&s, casn1.UTF8String) {
					break
				}
				text = append(text, string(s))
			}
		}
		return nil, fmt.Errorf("%w: status %d %q", ErrTSA, st, text)
	}
	var tok cryptobyte.String
	if !resp.ReadASN1Element(&tok, casn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: granted without a token", ErrTSA)
	}
	return []byte(tok), nil
}
