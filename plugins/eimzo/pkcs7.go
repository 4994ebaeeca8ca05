package eimzo

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/certs"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/gost"
	"github.com/signet-agent/signet/sdk/x500"
)

// pkcs7 plugin: CMS signatures (create_pkcs7 and the legacy co-signing,
// timestamping, information and verification functions).
//
// Every signature is one host Sign through sdk.KeyService.Signer: the
// Operation carries the caller's origin, a summary naming the domain,
// what is signed and the certificate, and the document itself (size and
// SHA-256), so the host's consent dialog shows the person what they sign
// and for whom, and asks for the password or PIN in its own window.

func init() {
	id := arg{Name: "id", Description: "Идентификатор ключа (keyId) или idcard, baikey, ckc"}
	trust := arg{Name: "trustStoreId", Description: "Идентификатор хранилища доверенных сертификатов или '' если не нужно проверять цепочку"}
	requester := arg{Name: "requesterId", Optional: true, Description: "Идентификатор запрашивающего (не используется)"}
	register(
		&function{Plugin: "pkcs7", Name: "create_pkcs7", Gate: gateKeyStore, Run: (*Server).createPKCS7,
			Description: "Создать PKCS#7/CMS документ подписав данные",
			Args: []arg{
				{Name: "data_64", Description: "Данные в кодировке BASE64"},
				id,
				{Name: "detached", Optional: true, Description: "'yes' — отсоединённая подпись (без данных), 'no' или '' — данные внутри документа"},
			}},
		&function{Plugin: "pkcs7", Name: "append_pkcs7_attached", Hidden: true, Gate: gateKeyStore, Run: (*Server).appendPKCS7Attached,
			Description: "Добавить подпись в PKCS#7/CMS документ с данными",
			Args:        []arg{{Name: "pkcs7_64", Description: "Документ PKCS#7 в кодировке BASE64"}, id}},
		&function{Plugin: "pkcs7", Name: "append_pkcs7_detached", Hidden: true, Gate: gateKeyStore, Run: (*Server).appendPKCS7Detached,
			Description: "Добавить подпись в отсоединённый PKCS#7/CMS документ",
			Args: []arg{
				{Name: "data_64", Description: "Данные в кодировке BASE64"},
				{Name: "pkcs7_64", Description: "Документ PKCS#7 в кодировке BASE64"}, id,
			}},
		&function{Plugin: "pkcs7", Name: "attach_timestamp_token_pkcs7", Hidden: true, Gate: gateAsk, Run: (*Server).attachTimestampToken,
			Description: "Прикрепить токен штампа времени к подписи PKCS#7",
			Args: []arg{
				{Name: "pkcs7_64", Description: "Документ PKCS#7 в кодировке BASE64"},
				{Name: "signer_serial_number", Description: "Серийный номер сертификата подписанта (hex)"},
				{Name: "timestamp_token_64", Description: "Токен штампа времени (RFC 3161) в кодировке BASE64"},
			}},
		&function{Plugin: "pkcs7", Name: "get_pkcs7_attached_info", Hidden: true, Gate: gateAsk, Run: (*Server).getPKCS7AttachedInfo,
			Description: "Получить информацию о PKCS#7 документе с данными",
			Args:        []arg{{Name: "pkcs7_64", Description: "Документ PKCS#7 в кодировке BASE64"}, trust}},
		&function{Plugin: "pkcs7", Name: "get_pkcs7_detached_info", Hidden: true, Gate: gateAsk, Run: (*Server).getPKCS7DetachedInfo,
			Description: "Получить информацию об отсоединённом PKCS#7 документе",
			Args: []arg{
				{Name: "data_64", Description: "Данные в кодировке BASE64"},
				{Name: "pkcs7_64", Description: "Документ PKCS#7 в кодировке BASE64"}, trust,
			}},
		&function{Plugin: "pkcs7", Name: "verify_pkcs7_attached", Hidden: true, Gate: gateAsk, Run: (*Server).verifyPKCS7Attached,
			Description: "Проверить PKCS#7 документ с данными",
			Args:        []arg{{Name: "pkcs7_64", Description: "Документ PKCS#7 в кодировке BASE64"}, trust, requester}},
		&function{Plugin: "pkcs7", Name: "verify_pkcs7_detached", Hidden: true, Gate: gateAsk, Run: (*Server).verifyPKCS7Detached,
			Description: "Проверить отсоединённый PKCS#7 документ",
			Args: []arg{
				{Name: "data_64", Description: "Данные в кодировке BASE64"},
				{Name: "pkcs7_64", Description: "Документ PKCS#7 в кодировке BASE64"}, trust, requester,
			}},
	)
}

// Size bounds. A request frame is at most MaxFrame (64 MiB) of base64, so
// a decoded argument is below 48 MiB; the bounds say so explicitly.
const (
	MaxDocument       = 48 << 20 // data_64, decoded
	MaxPKCS7          = 48 << 20 // pkcs7_64, decoded
	MaxTimestampToken = 1 << 20  // timestamp_token_64, decoded
	// MaxSummaryText is how much of a text document the summary quotes
	// (runes); the whole document is described by size and SHA-256.
	MaxSummaryText = 200
)

// errUnsupportedKey is the reply for a key whose algorithm Signet cannot
// sign CMS with yet (O'zDSt 1092 / O'zMSt 286, GOST).
func errUnsupportedKey(alg string) error {
	return &Error{Status: StatusRuntime, Args: []any{alg}, text: [2]string{
		"Алгоритм ключа %s пока не поддерживается Signet",
		"%s kalit algoritmi hozircha Signet tomonidan qo'llab-quvvatlanmaydi"}}
}

// errNoCertificate is -1018: the key has no certificate (a key pair from
// generate_keypair), so it cannot sign CMS or give a chain.
func errNoCertificate() error {
	return &Error{Status: StatusKeyIDNotForCert, text: [2]string{
		"Идентификатор ключа не применим для сертификата",
		"Kalit identifikatori sertifikat uchun qo'llanilmaydi"}}
}

// StatusKeyIDNotForCert is -1018: key id not applicable to a certificate.
const StatusKeyIDNotForCert = -1018

// signOptions is the one place that picks the CMS algorithms for a key:
// the key's own algorithm with a digest to match its strength, and for
// O'zDSt 1092 keys E-IMZO's own choices. O'zMSt 286 keys are not
// supported yet.
func signOptions(k sdk.Key) (*cms.SignOptions, error) {
	cert := k.Certificate
	if cert == nil {
		return nil, errNoCertificate()
	}
	opts := &cms.SignOptions{Chain: k.Chain}
	oid := keyAlgOID(cert)
	switch {
	case oid.Equal(cms.OIDPublicKeyRSA):
		opts.Digest = crypto.SHA256
	case oid.Equal(cms.OIDPublicKeyECDSA):
		opts.Digest = crypto.SHA256
		if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); ok {
			switch pub.Curve {
			case elliptic.P384():
				opts.Digest = crypto.SHA384
			case elliptic.P521():
				opts.Digest = crypto.SHA512
			}
		}
	case oid.Equal(cms.OIDPublicKeyEd25519):
		// RFC 8419: SHA-512 (the package's default for Ed25519).
	case oid.Equal(cms.OIDPublicKeyOzDSt1092_2):
		// As E-IMZO signs: digest O'zDSt 1106:2009 (1.2.860.3.15.1.3.2.1.1),
		// signatureAlgorithm 1.2.860.3.15.1.1.2.2.2.2, both with NULL, and
		// the signed attributes contentType, signingTime and messageDigest
		// only (E-IMZO writes no ESS signingCertificateV2).
		opts.DigestOID = gost.OIDDigestOzDSt1106
		opts.Algorithm = cms.AlgorithmOzDSt1092
		opts.NoSigningCertificate = true
	default:
		return nil, errUnsupportedKey(keyAlgName(cert))
	}
	return opts, nil
}

// keyName names a key for summaries: its certificate's CN, else its label.
func keyName(k sdk.Key) string {
	if k.Certificate != nil {
		if cn := k.Certificate.Subject.CommonName; cn != "" {
			return cn
		}
		return k.Certificate.Subject.String()
	}
	if k.Label != "" {
		return k.Label
	}
	return k.URI
}

// decodeDocument decodes data_64 (see decodeBase64). Empty data is
// accepted (E-IMZO signs it too).
func decodeDocument(s string) ([]byte, error) {
	data, err := decodeBase64(s, MaxDocument)
	if err != nil {
		return nil, errBadArgument("data_64", err)
	}
	return data, nil
}

// decodePKCS7 decodes and parses pkcs7_64 (DER or BER).
func decodePKCS7(s string) ([]byte, *cms.SignedData, error) {
	der, err := decodeBase64(s, MaxPKCS7)
	if err != nil {
		return nil, nil, errBadArgument("pkcs7_64", err)
	}
	sd, err := cms.ParseSignedData(der)
	if err != nil {
		return nil, nil, errBadArgument("pkcs7_64", err)
	}
	return der, sd, nil
}

// parseDetached maps the detached argument: "yes" → detached; "no", ""
// or omitted → attached, like the official client; anything else is an
// error rather than a guess.
func parseDetached(args []string) (bool, error) {
	if len(args) < 3 {
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(args[2])) {
	case "yes":
		return true, nil
	case "no", "":
		return false, nil
	}
	return false, errBadArgument("detached", fmt.Errorf("%q: want yes or no", args[2]))
}

// signingWhat says what a signing call signs, in the words of its
// consent summary ("sign the text … (N bytes)", "sign (detached signature)
// a document of N bytes, SHA-256 …", "co-sign …, already signed by "X",")
// and as the document the host shows and journals. The Sign's own summary
// and the token key choice (tokens.go chooserOp, whose grant covers the
// Sign, so it is the person's only dialog) both use it. ok is false for a
// call that is not a pkcs7 signing function or whose arguments do not
// decode (the function itself then reports the error).
func signingWhat(c *call) (phrase string, doc sdk.Document, ok bool) {
	switch c.fn.key() {
	case "pkcs7.create_pkcs7":
		what, doc, err := describeDocumentArg(c.args[0])
		if err != nil {
			return "", sdk.Document{}, false
		}
		detached, err := parseDetached(c.args)
		if err != nil {
			return "", sdk.Document{}, false
		}
		return signWhat(what, detached), doc, true
	case "pkcs7.append_pkcs7_attached":
		_, sd, err := decodePKCS7(c.args[0])
		if err != nil || !sd.HasContent {
			return "", sdk.Document{}, false
		}
		what, doc := describeDocument(sd.Content)
		return coSignWhat(sd, what), doc, true
	case "pkcs7.append_pkcs7_detached":
		what, doc, err := describeDocumentArg(c.args[0])
		if err != nil {
			return "", sdk.Document{}, false
		}
		_, sd, err := decodePKCS7(c.args[1])
		if err != nil || sd.HasContent {
			return "", sdk.Document{}, false
		}
		return coSignWhat(sd, what), doc, true
	}
	return "", sdk.Document{}, false
}

// signWhat is signingWhat's phrase for a new signature of the document
// described by what.
func signWhat(what string, detached bool) string {
	if detached {
		return "sign (detached signature) " + what
	}
	return "sign " + what
}

// coSignWhat is signingWhat's phrase for a co-signature over sd of the
// content described by what.
func coSignWhat(sd *cms.SignedData, what string) string {
	return fmt.Sprintf("co-sign %s, already signed by %s,", what, signerNames(sd))
}

// signReply builds the reply of a signing function from the new message:
// pkcs7_64, signature_hex (the new SignerInfo's signature value) and
// signer_serial_number (the certificate serial, lowercase hex without
// leading zeros, as big.Int.Text(16)).
func signReply(der []byte, cert *x509.Certificate) (Reply, error) {
	// The signer is found by issuer and serial: the message's certificates
	// need no parsing (that was most of the reply's cost).
	sd, err := cms.ParseSigners(der)
	if err != nil {
		return nil, fmt.Errorf("read back the signature: %w", err)
	}
	var si *cms.SignerInfo
	for _, s := range sd.Signers {
		if s.SerialNumber != nil && s.SerialNumber.Cmp(cert.SerialNumber) == 0 && bytes.Equal(s.IssuerRaw, cert.RawIssuer) {
			si = s // the last one: a co-signature is appended
		}
	}
	if si == nil {
		return nil, errors.New("read back the signature: no signer for the certificate")
	}
	return Reply{
		"pkcs7_64":             base64.StdEncoding.EncodeToString(der),
		"signature_hex":        si.SignatureHex(),
		"signer_serial_number": cert.SerialNumber.Text(16),
	}, nil
}

// signOp builds the Operation of a signature: the summary and the
// document, and the grant the key handle carries (a token key the person
// picked in the host's dialog for this call).
func signOp(c *call, h *handle, summary string, doc sdk.Document) sdk.Operation {
	op := c.op(summary)
	op.Documents = []sdk.Document{doc}
	op.GrantID = h.GrantID
	return op
}

// createPKCS7 signs data_64 with the key id: an attached or detached CMS
// SignedData with the signer certificate and its chain, and the signed
// attributes contentType, messageDigest, signingTime and ESS
// signingCertificateV2 (CAdES-BES).
func (s *Server) createPKCS7(c *call) (Reply, error) {
	detached, detachedErr := parseDetached(c.args)
	// An attached signature embeds the document, so it is decoded whole;
	// a detached one is described and signed from the base64 as it
	// streams, without a decoded copy.
	var data []byte
	var what string
	var doc sdk.Document
	var err error
	if detached {
		what, doc, err = describeDocumentArg(c.args[0])
	} else if data, err = decodeDocument(c.args[0]); err == nil {
		what, doc = describeDocument(data)
	}
	if err != nil {
		return nil, err
	}
	if detachedErr != nil {
		return nil, detachedErr
	}
	h, err := s.keyFor(c, c.args[1])
	if err != nil {
		return nil, err
	}
	opts, err := signOptions(h.Key)
	if err != nil {
		return nil, err
	}
	summary := fmt.Sprintf("%s asks to %s with %s", c.sess.domain, signWhat(what, detached), keyName(h.Key))
	signer := s.keys.Signer(c.ctx, h.Key, signOp(c, h, summary, doc))
	var der []byte
	if detached {
		r, rerr := documentArgReader(c.args[0])
		if rerr != nil {
			return nil, rerr
		}
		der, err = cms.SignDetached(r, signer, h.Key.Certificate, opts)
	} else {
		der, err = cms.Sign(data, signer, h.Key.Certificate, opts)
	}
	if err != nil {
		s.forgetTokenKey(c, h.Key, err)
		return nil, err
	}
	return signReply(der, h.Key.Certificate)
}

// Bounds of the existing signers named in a co-signing summary (the
// names come from the page's message).
const (
	maxSummarySigners = 5
	maxSummaryName    = 64 // runes
)

// signerNames lists the signers of sd by certificate CN, quoted and cut,
// for summaries.
func signerNames(sd *cms.SignedData) string {
	var names []string
	for i, si := range sd.Signers {
		if i == maxSummarySigners {
			names = append(names, fmt.Sprintf("and %d more", len(sd.Signers)-i))
			break
		}
		name := "an unknown signer"
		if cert := si.Certificate; cert != nil { // found by sdk/cms when it parsed the message
			cn := []rune(cert.Subject.CommonName)
			if len(cn) > maxSummaryName {
				cn = append(cn[:maxSummaryName], '…')
			}
			name = fmt.Sprintf("%q", string(cn))
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, ", ")
}

// coSign adds a signature of the key id to a message, whose content the
// person sees as what and doc; data64 is the detached content's data_64
// argument ("" for an attached message), read as a stream.
func (s *Server) coSign(c *call, der []byte, sd *cms.SignedData, what string, doc sdk.Document, data64, id string) (Reply, error) {
	h, err := s.keyFor(c, id)
	if err != nil {
		return nil, err
	}
	opts, err := signOptions(h.Key)
	if err != nil {
		return nil, err
	}
	summary := fmt.Sprintf("%s asks to %s with %s", c.sess.domain, coSignWhat(sd, what), keyName(h.Key))
	signer := s.keys.Signer(c.ctx, h.Key, signOp(c, h, summary, doc))
	// For an attached message the content is in it: sdk/cms wants a nil
	// io.Reader then (not a nil *reader in an interface).
	var content io.Reader
	if !sd.HasContent {
		if content, err = documentArgReader(data64); err != nil {
			return nil, err
		}
	}
	out, err := cms.CoSign(der, content, signer, h.Key.Certificate, opts)
	if err != nil {
		s.forgetTokenKey(c, h.Key, err)
		return nil, err
	}
	return signReply(out, h.Key.Certificate)
}

// appendPKCS7Attached co-signs an attached message (legacy).
func (s *Server) appendPKCS7Attached(c *call) (Reply, error) {
	der, sd, err := decodePKCS7(c.args[0])
	if err != nil {
		return nil, err
	}
	if !sd.HasContent {
		return nil, errBadArgument("pkcs7_64", errors.New("detached signature: use append_pkcs7_detached"))
	}
	what, doc := describeDocument(sd.Content)
	return s.coSign(c, der, sd, what, doc, "", c.args[1])
}

// appendPKCS7Detached co-signs a detached message over data_64 (legacy).
// The existing signatures are not checked against the data here (the
// verify functions do that); the new one covers data_64, read as a
// stream.
func (s *Server) appendPKCS7Detached(c *call) (Reply, error) {
	what, doc, err := describeDocumentArg(c.args[0])
	if err != nil {
		return nil, err
	}
	der, sd, err := decodePKCS7(c.args[1])
	if err != nil {
		return nil, err
	}
	if sd.HasContent {
		return nil, errBadArgument("pkcs7_64", errors.New("attached signature: use append_pkcs7_attached"))
	}
	return s.coSign(c, der, sd, what, doc, c.args[0], c.args[2])
}

// attachTimestampToken adds an RFC 3161 token to the signer whose
// certificate serial is signer_serial_number (hex, any case, leading zeros
// allowed), as its signatureTimeStampToken unsigned attribute (legacy). The
// token must be over that signer's signature value: its message imprint is
// checked here, so a token for another signature is refused at once.
func (s *Server) attachTimestampToken(c *call) (Reply, error) {
	der, sd, err := decodePKCS7(c.args[0])
	if err != nil {
		return nil, err
	}
	serial, ok := new(big.Int).SetString(strings.TrimSpace(c.args[1]), 16)
	if !ok || serial.Sign() < 0 {
		return nil, errBadArgument("signer_serial_number", errors.New("not hex"))
	}
	token, err := decodeBase64(c.args[2], MaxTimestampToken)
	if err != nil {
		return nil, errBadArgument("timestamp_token_64", err)
	}
	_, tst, err := cms.ParseTimestampToken(token)
	if err != nil {
		return nil, errBadArgument("timestamp_token_64", err)
	}
	var si *cms.SignerInfo
	for _, x := range sd.Signers {
		if x.SerialNumber != nil && x.SerialNumber.Cmp(serial) == 0 {
			si = x
			break
		}
	}
	if si == nil {
		return nil, &Error{Status: StatusRuntime, Args: []any{serial.Text(16)}, text: [2]string{
			"Подписант с серийным номером сертификата %s не найден",
			"Sertifikat seriya raqami %s bo'lgan imzolovchi topilmadi"}}
	}
	if err := checkImprint(tst, si.Signature); err != nil {
		return nil, errBadArgument("timestamp_token_64", err)
	}
	out, err := cms.AttachTimestampBySerial(der, serial.Text(16), token)
	if err != nil {
		return nil, err
	}
	return Reply{"pkcs7_64": base64.StdEncoding.EncodeToString(out)}, nil
}

// checkImprint checks that a token's message imprint is the hash of sig.
func checkImprint(tst *cms.TSTInfo, sig []byte) error {
	d, err := cms.DefaultRegistry().DigestByOID(tst.MessageImprint.HashAlgorithm.Algorithm)
	if err != nil {
		return err
	}
	var sum []byte
	if d.New != nil {
		h := d.New()
		h.Write(sig)
		sum = h.Sum(nil)
	} else {
		h := d.Hash.New()
		h.Write(sig)
		sum = h.Sum(nil)
	}
	if !bytes.Equal(sum, tst.MessageImprint.HashedMessage) {
		return cms.ErrTimestampImprintMismatch
	}
	return nil
}

// --- information and verification ---

// pkcs7Info is E-IMZO's description of a CMS message, with E-IMZO's field names.
type pkcs7Info struct {
	Signers []signerView `json:"signers"`
	// DocumentBase64 is the content of an attached message.
	DocumentBase64 *string `json:"documentBase64,omitempty"`
}

type signerID struct {
	Issuer              string `json:"issuer"`
	SubjectSerialNumber string `json:"subjectSerialNumber"` // lowercase hex
}

// signerView is one signer of pkcs7Info. What Signet fills: see README
// ("Signatures").
type signerView struct {
	SignerID    signerID `json:"signerId"`
	SigningTime string   `json:"signingTime,omitempty"` // yyyy.MM.dd HH:mm:ss, Tashkent
	Signature   string   `json:"signature"`             // hex (= signature_hex)
	Digest      string   `json:"digest"`                // hex content digest
	DigestAlg   string   `json:"digestAlgorithm"`
	SignAlgName string   `json:"signAlgName"`
	// Certificate is the signer's certificate, then its issuers as found
	// in the message.
	Certificate []certificateInfo `json:"certificate"`
	// Verified: the signature and the content digest (and the ESS
	// signingCertificate attribute, if present) are correct.
	Verified bool `json:"verified"`
	// CertificateVerified and TrustedCertificate: the chain was checked
	// against trusted roots. Signet has no trust stores, so they are false.
	CertificateVerified bool `json:"certificateVerified"`
	TrustedCertificate  bool `json:"trustedCertificate"`
	// CertificateValidAtSigningTime: the signing time (the timestamp's,
	// else the signingTime attribute) is within the certificate validity.
	CertificateValidAtSigningTime bool           `json:"certificateValidAtSigningTime"`
	PolicyIdentifiers             []string       `json:"policyIdentifiers"`
	Exception                     string         `json:"exception,omitempty"`
	TimeStampInfo                 *timeStampView `json:"timeStampInfo,omitempty"`
}

type timeStampView struct {
	Time          string            `json:"time"`
	TSA           string            `json:"tsa"`
	TSAPolicy     string            `json:"tsaPolicy"`
	SerialNumber  string            `json:"serialNumber"`
	HashAlgorithm string            `json:"hashAlgorithm"`
	Verified      bool              `json:"verified"`
	Certificate   []certificateInfo `json:"certificate"`
	Exception     string            `json:"exception,omitempty"`
}

// errNoTrustStore is the reply for a non-empty trustStoreId: Signet has
// no trust stores (E-IMZO's truststore plugins are not implemented), so
// no id can name one.
func errNoTrustStore(id string) error {
	return &Error{Status: StatusKeyIDNotFound, Args: []any{id}, text: [2]string{
		"Хранилище доверенных сертификатов %s не найдено",
		"%s ishonchli sertifikatlar ombori topilmadi"}}
}

// contentReader is the detached content for sdk/cms: data when detached,
// else a nil io.Reader (not a nil *bytes.Reader in an interface).
func contentReader(detached bool, data []byte) io.Reader {
	if !detached {
		return nil
	}
	return bytes.NewReader(data)
}

// inspect verifies a message and describes it. trustStoreId must be ""
// (no chain verification).
func inspect(der []byte, data []byte, trustStoreID string) (*pkcs7Info, *cms.Report, error) {
	if trustStoreID != "" {
		return nil, nil, errNoTrustStore(trustStoreID)
	}
	rep, err := cms.Verify(der, contentReader(data != nil, data), &cms.VerifyOptions{})
	if rep == nil {
		return nil, nil, errBadArgument("pkcs7_64", err)
	}
	info := &pkcs7Info{Signers: []signerView{}}
	if !rep.Detached {
		d := base64.StdEncoding.EncodeToString(rep.Content)
		info.DocumentBase64 = &d
	}
	content := rep.Content
	if rep.Detached {
		content = data
	}
	for _, sr := range rep.Signers {
		info.Signers = append(info.Signers, describeSigner(rep.SignedData, sr, content))
	}
	return info, rep, nil
}

// describeSigner builds one signerView.
func describeSigner(sd *cms.SignedData, sr *cms.SignerReport, content []byte) signerView {
	si := sd.Signers[sr.Index]
	v := signerView{
		Signature:         sr.SignatureHex,
		DigestAlg:         sr.DigestAlgorithm,
		SignAlgName:       sigAlgName(sr.SignatureOID),
		Certificate:       []certificateInfo{},
		PolicyIdentifiers: []string{},
		Verified:          sr.SignatureOK && sr.ContentDigestOK && (!sr.SigningCertificatePresent || sr.SigningCertificateOK),
	}
	if len(si.IssuerRaw) > 0 {
		v.SignerID.Issuer, _ = x500.Format(si.IssuerRaw)
	}
	if si.SerialNumber != nil {
		v.SignerID.SubjectSerialNumber = si.SerialNumber.Text(16)
	}
	if sr.HasSigningTime {
		v.SigningTime = eimzoTime(sr.SigningTime)
	}
	v.Digest = hex.EncodeToString(contentDigest(si, content))
	cert := sr.Certificate
	if cert == nil {
		cert = si.Certificate
	}
	if cert != nil {
		for _, c := range append([]*x509.Certificate{cert}, certs.Issuers(cert, sd.Certificates)...) {
			v.Certificate = append(v.Certificate, describeCertificate(c))
		}
		for _, p := range cert.PolicyIdentifiers {
			v.PolicyIdentifiers = append(v.PolicyIdentifiers, p.String())
		}
		at := sr.ValidationTime
		v.CertificateValidAtSigningTime = (sr.HasSigningTime || sr.Timestamp != nil) &&
			!at.Before(cert.NotBefore) && !at.After(cert.NotAfter)
	}
	if ts := sr.Timestamp; ts != nil {
		tv := &timeStampView{
			Time:          eimzoTime(ts.Time),
			TSA:           ts.TSA,
			TSAPolicy:     ts.Policy.String(),
			HashAlgorithm: ts.HashAlgorithm.String(),
			Verified:      ts.Valid(),
			Certificate:   []certificateInfo{},
		}
		if ts.SerialNumber != nil {
			tv.SerialNumber = ts.SerialNumber.Text(16)
		}
		if ts.Certificate != nil {
			tv.Certificate = append(tv.Certificate, describeCertificate(ts.Certificate))
		}
		if len(ts.Errors) > 0 {
			tv.Exception = errors.Join(ts.Errors...).Error()
		}
		v.TimeStampInfo = tv
	}
	var problems []error
	for _, e := range sr.Errors {
		// The chain is not checked without a trust store; that is not a
		// failure of the signature.
		if errors.Is(e, cms.ErrChainUntrusted) {
			continue
		}
		problems = append(problems, e)
	}
	if len(problems) > 0 {
		v.Exception = errors.Join(problems...).Error()
	}
	return v
}

// contentDigest is the signer's messageDigest attribute, or the digest of
// content under the signer's digest algorithm when there are no signed
// attributes.
func contentDigest(si *cms.SignerInfo, content []byte) []byte {
	for _, a := range si.SignedAttributes {
		if a.Type.Equal(cms.OIDAttributeMessageDigest) && len(a.Values) == 1 {
			var d []byte
			if _, err := asn1.Unmarshal(a.Values[0], &d); err == nil {
				return d
			}
		}
	}
	d, err := cms.DefaultRegistry().DigestByOID(si.DigestAlgorithm.Algorithm)
	if err != nil || content == nil {
		return nil
	}
	if d.New != nil {
		h := d.New()
		h.Write(content)
		return h.Sum(nil)
	}
	h := d.Hash.New()
	h.Write(content)
	return h.Sum(nil)
}

// inspectCall reads the arguments the info and verify functions share —
// (data_64,) pkcs7_64, trustStoreId — and inspects the message. detached
// says which kind the function takes; the other kind is refused, naming
// the function to use instead.
func inspectCall(c *call, detached bool, useInstead string) (*pkcs7Info, error) {
	args := c.args
	var data []byte
	if detached {
		d, err := decodeDocument(args[0])
		if err != nil {
			return nil, err
		}
		data, args = d, args[1:]
	}
	der, sd, err := decodePKCS7(args[0])
	if err != nil {
		return nil, err
	}
	if sd.HasContent == detached {
		kind := "detached"
		if sd.HasContent {
			kind = "attached"
		}
		return nil, errBadArgument("pkcs7_64", fmt.Errorf("%s signature: use %s", kind, useInstead))
	}
	info, _, err := inspect(der, data, args[1])
	return info, err
}

func (s *Server) getPKCS7AttachedInfo(c *call) (Reply, error) {
	info, err := inspectCall(c, false, "get_pkcs7_detached_info")
	if err != nil {
		return nil, err
	}
	return Reply{"pkcs7Info": info}, nil
}

func (s *Server) getPKCS7DetachedInfo(c *call) (Reply, error) {
	info, err := inspectCall(c, true, "get_pkcs7_attached_info")
	if err != nil {
		return nil, err
	}
	return Reply{"pkcs7Info": info}, nil
}

// verifyResult is the reply of the verify functions: success with the
// pkcs7Info when every signer's signature is correct and, when the
// signing time is known (timestamp or signingTime), its certificate was
// valid then; a failure reply (-9999, naming the first problem)
// otherwise, so a client that looks only at success never takes a bad
// signature for a good one.
func verifyResult(info *pkcs7Info) (Reply, error) {
	if len(info.Signers) == 0 {
		return nil, errSignatureInvalid(cms.ErrNoSigners.Error())
	}
	for _, v := range info.Signers {
		if !v.Verified {
			why := v.Exception
			if why == "" {
				why = cms.ErrSignatureInvalid.Error()
			}
			return nil, errSignatureInvalid(why)
		}
		if (v.SigningTime != "" || v.TimeStampInfo != nil) && !v.CertificateValidAtSigningTime {
			return nil, errSignatureInvalid("the signer certificate was not valid at the signing time")
		}
	}
	return Reply{"pkcs7Info": info}, nil
}

func errSignatureInvalid(why string) error {
	return &Error{Status: StatusRuntime, Args: []any{why}, text: [2]string{
		"Подпись недействительна: %s", "Imzo haqiqiy emas: %s"}}
}

// verifyPKCS7Attached verifies an attached message (legacy). requesterId
// is accepted and not used.
func (s *Server) verifyPKCS7Attached(c *call) (Reply, error) {
	info, err := inspectCall(c, false, "verify_pkcs7_detached")
	if err != nil {
		return nil, err
	}
	return verifyResult(info)
}

// verifyPKCS7Detached verifies a detached message over data_64 (legacy).
func (s *Server) verifyPKCS7Detached(c *call) (Reply, error) {
	info, err := inspectCall(c, true, "verify_pkcs7_attached")
	if err != nil {
		return nil, err
	}
	return verifyResult(info)
}
