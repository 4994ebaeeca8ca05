package eimzo

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/x500"
)

// pkcs10 plugin: key pair generation on a PKCS#11 token and certificate
// requests, all through the host (KeyService.GenerateKey, KeyService.CreateCSR):
// the plugin never holds a private key, and the host asks the person.

func init() {
	cp := arg{Name: "cp_list", Optional: true, Description: "OID политик применения сертификата, разделённые запятой"}
	register(
		&function{Plugin: "pkcs10", Name: "generate_keypair", Gate: gateKeyStore, Run: (*Server).generateKeypair,
			Description: "Сгенерировать ключевую пару на токене PKCS#11 (RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384, ECDSA-P521, Ed25519)",
			Args: []arg{
				{Name: "alg_name", Description: "Название алгоритма"},
				{Name: "seed", Optional: true, Description: "Случайные данные для генератора (не используются: ключ создаёт токен)"},
			}},
		&function{Plugin: "pkcs10", Name: "create_pkcs10", Gate: gateKeyStore, Run: (*Server).createPKCS10,
			Description: "Сформировать запрос на сертификат формата PKCS#10",
			Args: []arg{
				{Name: "id", Description: "Идентификатор ключевой пары (kpId)"},
				{Name: "subject_x500_name", Description: "Имя субъекта в формате X.500"},
				cp,
			}},
		&function{Plugin: "pkcs10", Name: "create_pkcs10_from_key", Gate: gateKeyStore, Run: (*Server).createPKCS10FromKey,
			Description: "Сформировать запрос на сертификат формата PKCS#10 для существующего ключа",
			Args: []arg{
				{Name: "id", Description: "Идентификатор ключа"},
				{Name: "replacement_x500_name", Optional: true, Description: "Имя субъекта в формате X.500 или '' чтобы взять имя из сертификата ключа"},
				cp,
			}},
		&function{Plugin: "pkcs10", Name: "get_pkcs10_info", Gate: gateAsk, Run: (*Server).getPKCS10Info,
			Description: "Получить информацию о запросе PKCS#10",
			Args:        []arg{{Name: "pkcs10", Description: "Запрос в кодировке BASE64 или PEM"}}},
	)
}

// Bounds.
const (
	MaxPKCS10   = 64 << 10
	MaxPolicies = 32
)

// Statuses of the key-id checks of create_pkcs10, as E-IMZO numbers them.
const (
	StatusKeyIDMismatch = -1016 // the id is not a key pair from generate_keypair
)

// keyAlgorithm is a key type generate_keypair offers.
type keyAlgorithm struct {
	alg  sdk.KeyAlgorithm
	bits int
}

// keyAlgorithms maps accepted alg_name spellings (upper case, '_' and ' '
// read as '-') to key types.
var keyAlgorithms = map[string]keyAlgorithm{
	"RSA": {"RSA", 2048}, "RSA-2048": {"RSA", 2048}, "RSA2048": {"RSA", 2048},
	"RSA-3072": {"RSA", 3072}, "RSA3072": {"RSA", 3072},
	"RSA-4096": {"RSA", 4096}, "RSA4096": {"RSA", 4096},
	"EC": {"ECDSA", 256}, "ECDSA": {"ECDSA", 256},
	"ECDSA-P256": {"ECDSA", 256}, "EC-P256": {"ECDSA", 256}, "P-256": {"ECDSA", 256}, "P256": {"ECDSA", 256},
	"SECP256R1": {"ECDSA", 256}, "PRIME256V1": {"ECDSA", 256},
	"ECDSA-P384": {"ECDSA", 384}, "EC-P384": {"ECDSA", 384}, "P-384": {"ECDSA", 384}, "SECP384R1": {"ECDSA", 384},
	"ECDSA-P521": {"ECDSA", 521}, "EC-P521": {"ECDSA", 521}, "P-521": {"ECDSA", 521}, "SECP521R1": {"ECDSA", 521},
	"ED25519": {"Ed25519", 0},
}

// parseKeyAlgorithm reads alg_name. E-IMZO's own names (OZDST-1092-…,
// OZMST-286-…) get a clear "not supported yet": Signet does not generate
// O'zDSt keys.
func parseKeyAlgorithm(name string) (keyAlgorithm, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	n = strings.NewReplacer("_", "-", " ", "-").Replace(n)
	if strings.HasPrefix(n, "OZDST") || strings.HasPrefix(n, "OZMST") || strings.Contains(n, "GOST") {
		return keyAlgorithm{}, errUnsupportedKey(name)
	}
	if a, ok := keyAlgorithms[n]; ok {
		return a, nil
	}
	return keyAlgorithm{}, &Error{Status: StatusRuntime, Args: []any{name}, text: [2]string{
		"Неизвестный алгоритм %s (Signet: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384, ECDSA-P521, Ed25519)",
		"Noma'lum algoritm %s (Signet: RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384, ECDSA-P521, Ed25519)"}}
}

// keygenTokenURI picks the token generate_keypair creates keys on: the
// plugin option keygen_token when set; else the only PKCS#11 token that
// is not write-protected. No such token is -5003 (insert a token);
// several without the option is an error naming the option.
func (s *Server) keygenTokenURI(c *call, op sdk.Operation) (string, error) {
	if s.keygenToken != "" {
		return s.keygenToken, nil
	}
	tokens, err := s.keys.Tokens(c.ctx, op)
	if err != nil {
		return "", err
	}
	var found []sdk.Token
	for _, t := range tokens {
		if t.Backend == "pkcs11" && !t.Flags.WriteProtected {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return "", fail(StatusInsertDisk)
	case 1:
		return found[0].URI, nil
	}
	return "", &Error{Status: StatusRuntime, Args: []any{len(found), OptionKeygenToken}, text: [2]string{
		"Подключено %d токенов PKCS#11: укажите токен для новых ключей в параметре модуля %s",
		"%d ta PKCS#11 token ulangan: yangi kalitlar uchun tokenni %s modul parametrida ko'rsating"}}
}

// generateKeypair creates a key pair on a PKCS#11 token through the host
// and returns a kpId (type KEY_PAIR) for create_pkcs10. The seed argument
// is accepted for compatibility and not used: the token's generator makes
// the key, and nothing a web page sends reaches it.
func (s *Server) generateKeypair(c *call) (Reply, error) {
	alg, err := parseKeyAlgorithm(c.args[0])
	if err != nil {
		return nil, err
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	label := "eimzo-keypair-" + hex.EncodeToString(suffix[:])
	what := string(alg.alg)
	if alg.bits != 0 {
		what = fmt.Sprintf("%s-%d", alg.alg, alg.bits)
	}
	op := c.op(fmt.Sprintf("%s asks to generate a new %s key pair (%s) for a certificate request", c.sess.domain, what, label))
	token, err := s.keygenTokenURI(c, op)
	if err != nil {
		return nil, err
	}
	k, err := s.keys.GenerateKey(c.ctx, sdk.GenerateKeyRequest{TokenURI: token, Label: label, Algorithm: alg.alg, Bits: alg.bits}, op)
	if err != nil {
		return nil, err
	}
	id := s.handles.add(handle{Type: TypeKeyPair, Domain: c.sess.domain, Key: k}, s.keyTTL)
	return Reply{"kpId": id, "type": TypeKeyPair}, nil
}

var oidCertificatePolicies = asn1.ObjectIdentifier{2, 5, 29, 32}

// errBadPolicy is -2023 with the offending text.
func errBadPolicy(oid string) error { return fail(StatusBadPolicyOID, oid) }

// parsePolicies reads cp_list: comma-separated dotted OIDs, spaces around
// each ignored. Omitted or "" means no policies (E-IMZO accepts that); a
// list without any OID ("," or " ") is -1023; an invalid OID is -2023.
func parsePolicies(args []string, i int) ([]asn1.ObjectIdentifier, bool, error) {
	if len(args) <= i || args[i] == "" {
		return nil, false, nil
	}
	if len(args[i]) > MaxPolicies*64 {
		return nil, false, errBadPolicy(fmt.Sprintf("cp_list of %d bytes", len(args[i])))
	}
	var oids []asn1.ObjectIdentifier
	for _, p := range strings.Split(args[i], ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		oid, err := x500.ParseOID(p)
		if err != nil {
			return nil, false, errBadPolicy(p)
		}
		oids = append(oids, oid)
	}
	if len(oids) == 0 {
		return nil, false, fail(StatusNoPolicies)
	}
	if len(oids) > MaxPolicies {
		return nil, false, errBadPolicy(fmt.Sprintf("more than %d OIDs", MaxPolicies))
	}
	return oids, true, nil
}

// policiesExtension encodes certificatePolicies with bare policy OIDs.
func policiesExtension(oids []asn1.ObjectIdentifier) (pkix.Extension, error) {
	type policyInformation struct{ Policy asn1.ObjectIdentifier }
	pols := make([]policyInformation, len(oids))
	for i, o := range oids {
		pols[i] = policyInformation{o}
	}
	v, err := asn1.Marshal(pols)
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidCertificatePolicies, Value: v}, nil
}

// errBadSubject is the reply for an X.500 name that does not parse.
func errBadSubject(name string, err error) error {
	return &Error{Status: StatusRuntime, Args: []any{name, err.Error()}, cause: err, text: [2]string{
		"Неверное имя X.500 в аргументе %s: %s", "%s argumentida X.500 nomi noto'g'ri: %s"}}
}

// createCSR asks the host for a request for key with the DER subject and
// policies. The template carries the subject as RawSubject, so its order
// and string types (UTF8String, PrintableString C) are kept exactly.
func (s *Server) createCSR(c *call, h *handle, subject []byte, policies []asn1.ObjectIdentifier) (Reply, error) {
	tmpl := &x509.CertificateRequest{RawSubject: subject}
	if len(policies) > 0 {
		ext, err := policiesExtension(policies)
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	}
	name, _ := x500.Format(subject)
	summary := fmt.Sprintf("%s asks to create a certificate request for %q with the key %s", c.sess.domain, name, keyName(h.Key))
	// No GrantID: a pseudo-id's grant covers a signature, and the host
	// asks for the request on its own.
	der, err := s.keys.CreateCSR(c.ctx, h.Key.URI, tmpl, c.op(summary))
	if err != nil {
		return nil, err
	}
	return Reply{"pkcs10_64": base64.StdEncoding.EncodeToString(der)}, nil
}

// parseX500 parses a name as E-IMZO writes it (certificate order) into the
// DER a request takes as its raw subject, so order and string types
// survive exactly.
func parseX500(s string) ([]byte, error) {
	n, err := x500.Parse(s)
	if err != nil {
		return nil, err
	}
	return n.Marshal()
}

// createPKCS10 makes a request for a key pair from generate_keypair:
// -1011 when the id is unknown, -1016 when it names another kind of key.
func (s *Server) createPKCS10(c *call) (Reply, error) {
	h, ok := s.handles.get(c.sess.domain, c.args[0])
	if !ok {
		return nil, fail(StatusKeyPairNotFound)
	}
	if h.Type != TypeKeyPair {
		return nil, &Error{Status: StatusKeyIDMismatch, text: [2]string{
			"Идентификатор ключа не соответствует ключевой паре", "Kalit identifikatori kalit juftligiga mos emas"}}
	}
	subject, err := parseX500(c.args[1])
	if err != nil {
		return nil, errBadSubject("subject_x500_name", err)
	}
	policies, _, err := parsePolicies(c.args, 2)
	if err != nil {
		return nil, err
	}
	return s.createCSR(c, h, subject, policies)
}

// createPKCS10FromKey makes a request for a loaded key (a keyId from
// load_key or a pseudo-id): the subject of its certificate unless
// replacement_x500_name is given, and the certificate's policies unless
// cp_list is given (a renewal asks for what the certificate had). A key
// pair from generate_keypair is -1015 (use create_pkcs10).
func (s *Server) createPKCS10FromKey(c *call) (Reply, error) {
	var replacement string
	if len(c.args) > 1 {
		replacement = strings.TrimSpace(c.args[1])
	}
	policies, given, err := parsePolicies(c.args, 2)
	if err != nil {
		return nil, err
	}
	var subject []byte
	if replacement != "" {
		if subject, err = parseX500(replacement); err != nil {
			return nil, errBadSubject("replacement_x500_name", err)
		}
	}
	h, err := s.keyFor(c, c.args[0])
	if err != nil {
		return nil, err
	}
	if h.Type == TypeKeyPair {
		return nil, fail(StatusKeyIDNotFor)
	}
	cert := h.Key.Certificate
	if subject == nil {
		if cert == nil {
			return nil, errNoCertificate()
		}
		subject = cert.RawSubject
	}
	if !given && cert != nil {
		policies = append(policies, cert.PolicyIdentifiers...)
	}
	return s.createCSR(c, h, subject, policies)
}

// pkcs10Info describes a certificate request.
type pkcs10Info struct {
	SubjectName string            `json:"subjectName"`
	SubjectInfo map[string]string `json:"subjectInfo"`
	PublicKey   publicKeyInfo     `json:"publicKey"`
	Signature   signatureInfo     `json:"signature"`
	// SignatureValid: the request's self-signature verifies.
	SignatureValid    bool     `json:"signatureValid"`
	PolicyIdentifiers []string `json:"policyIdentifiers"`
}

// errBadPKCS10 is -1028.
func errBadPKCS10(cause error) error {
	e := asError(fail(StatusBadPKCS10))
	e.cause = cause
	return e
}

// getPKCS10Info describes a request given as PEM or base64 DER (-1028
// otherwise) and returns it as base64 DER too.
func (s *Server) getPKCS10Info(c *call) (Reply, error) {
	der, err := pemOrBase64(c.args[0], "CERTIFICATE REQUEST", MaxPKCS10)
	if err != nil {
		return nil, errBadPKCS10(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, errBadPKCS10(err)
	}
	info := pkcs10Info{
		SubjectName: nameString(csr.RawSubject, csr.Subject),
		SubjectInfo: x500.Map(csr.RawSubject),
		PublicKey: publicKeyInfo{
			KeyAlgName: spkiAlgName(csr.RawSubjectPublicKeyInfo),
			PublicKey:  base64.StdEncoding.EncodeToString(csr.RawSubjectPublicKeyInfo),
		},
		Signature: signatureInfo{
			SignAlgName: sigAlgName(outerSigAlgOID(csr.Raw)),
			Signature:   hex.EncodeToString(csr.Signature),
		},
		SignatureValid:    csr.CheckSignature() == nil,
		PolicyIdentifiers: []string{},
	}
	for _, e := range csr.Extensions {
		if !e.Id.Equal(oidCertificatePolicies) {
			continue
		}
		var pols []struct {
			Policy asn1.ObjectIdentifier
			Rest   asn1.RawValue `asn1:"optional"`
		}
		if _, err := asn1.Unmarshal(e.Value, &pols); err != nil {
			return nil, errBadPKCS10(errors.New("certificatePolicies extension does not parse"))
		}
		for _, p := range pols {
			info.PolicyIdentifiers = append(info.PolicyIdentifiers, p.Policy.String())
		}
	}
	return Reply{"pkcs10_info": info, "pkcs10_64": base64.StdEncoding.EncodeToString(der)}, nil
}
