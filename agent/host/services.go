package host

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/signet-agent/signet/agent/consent"
	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/hsm/pfx"
	"github.com/signet-agent/signet/internal/wire"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

// services implements the host services for one plugin. The plugin's name
// comes from the host's configuration, never from the plugin.
type services struct {
	pb.UnimplementedKeyStoreServer
	pb.UnimplementedConsentServer
	pb.UnimplementedLogServer
	pb.UnimplementedTLSServer

	m      *Manager
	plugin string
	log    *slog.Logger
}

func (s *services) request(kind consent.Kind, op *pb.Operation, keyURI string) (consent.Request, error) {
	if err := wire.CheckOperation(op); err != nil {
		return consent.Request{}, err
	}
	r := consent.Request{
		Kind:      kind,
		Plugin:    s.plugin,
		Origin:    op.GetOrigin(),
		Caller:    op.GetCaller(),
		Summary:   op.GetSummary(),
		Evidence:  op.GetEvidence(),
		RequestID: op.GetRequestId(),
		KeyURI:    keyURI,

		GrantUses:   int(op.GetGrantUses()),
		GrantWithin: time.Duration(op.GetGrantWithinSeconds()) * time.Second,
		GrantID:     op.GetGrantId(),
		// Only a key listing may be for a choice (ListKeys withholds the
		// keys' identities when the consent system says so).
		ForChoice: kind == consent.List && op.GetForChoice(),
	}
	html, err := consent.SanitizeHTML(op.GetSummaryHtml())
	if err != nil {
		return consent.Request{}, err
	}
	r.SummaryHTML = html
	for _, d := range op.GetDocuments() {
		r.Documents = append(r.Documents, consent.Document{Name: d.GetName(), Size: d.GetSize(), SHA256: d.GetSha256(), ContentType: d.GetContentType()})
	}
	return r, nil
}

// Recorder is implemented by consent systems that journal the outcome of
// each operation they allowed (agent/consent's Engine). The host calls
// Record after every key operation with its result.
type Recorder interface {
	Record(ctx context.Context, req consent.Request, err error) error
}

// record reports an operation's outcome to the consent system's journal.
// A failure is logged and returned: when the consent system deferred its
// decision to this record (consent.Outcome.Deferred), the caller must
// withhold the result.
func (s *services) record(ctx context.Context, req consent.Request, err error) error {
	r, ok := s.m.consent.(Recorder)
	if !ok {
		return nil
	}
	rerr := r.Record(context.WithoutCancel(ctx), req, err)
	if rerr != nil {
		s.log.Error("journal", "kind", req.Kind, "request_id", req.RequestID, "error", rerr)
	}
	return rerr
}

// allow checks consent and returns a ctx carrying the request for the PIN
// prompt.
func (s *services) allow(ctx context.Context, kind consent.Kind, op *pb.Operation, keyURI string) (context.Context, consent.Request, error) {
	ctx, req, _, err := s.ask(ctx, kind, op, keyURI, false)
	return ctx, req, err
}

// ask is allow that also returns what the consent system reported besides
// its decision: the id of a grant the person accepted while deciding.
// oneRecord lets the consent system journal a decision nobody was asked
// about together with the outcome (consent.Outcome.OneRecord): the caller
// then calls record with the returned ctx (it carries the Outcome) on
// every path, and releases the result only when that record succeeded.
func (s *services) ask(ctx context.Context, kind consent.Kind, op *pb.Operation, keyURI string, oneRecord bool) (context.Context, consent.Request, *consent.Outcome, error) {
	out := &consent.Outcome{OneRecord: oneRecord}
	req, err := s.request(kind, op, keyURI)
	if err != nil {
		return ctx, req, out, err
	}
	ctx = consent.WithOutcome(ctx, out)
	if err := s.m.consent.Ask(ctx, req); err != nil {
		s.log.Info("refused", "kind", kind, "key", keyURI, "origin", req.Origin, "request_id", req.RequestID, "error", err)
		return ctx, req, out, err
	}
	return consent.WithRequest(ctx, req), req, out, nil
}

// cleanURIs checks, in place, the key and token URIs a plugin sent (see
// pluginURI) and returns the gRPC error for the first one refused.
func (s *services) cleanURIs(uris ...*string) error {
	for _, u := range uris {
		clean, err := pluginURI(*u)
		if err != nil {
			s.log.Warn("refused a URI from the plugin", "error", err)
			return wire.ToStatus(err)
		}
		*u = clean
	}
	return nil
}

// pluginURI returns the URI a plugin sent in the form the host uses,
// logs and journals: a pkcs11: URI parsed and printed canonically (an
// unknown or repeated attribute is refused); other URIs (file: for PFX
// entries) as given, bounded and without a query. A URI carrying
// pin-value or pin-source is refused: a plugin never supplies a PIN nor
// says where the agent reads one, and the error does not repeat the
// value.
func pluginURI(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	if len(raw) > hsm.MaxURILength {
		return "", fmt.Errorf("URI of %d bytes (at most %d): %w", len(raw), hsm.MaxURILength, hsm.ErrInvalidRequest)
	}
	const scheme = "pkcs11:"
	if len(raw) < len(scheme) || !strings.EqualFold(raw[:len(scheme)], scheme) {
		if strings.ContainsRune(raw, '?') {
			return "", fmt.Errorf("a %s URI from a plugin has no query part: %w", uriScheme(raw), hsm.ErrInvalidRequest)
		}
		return raw, nil
	}
	u, err := hsm.ParseURI(raw)
	if err != nil {
		return "", err // ParseURI never prints a pin-value
	}
	defer u.Wipe()
	if len(u.PINValue) > 0 || u.PINSource != "" {
		return "", fmt.Errorf("a pkcs11: URI from a plugin carries pin-value or pin-source; plugins never supply PINs: %w", hsm.ErrInvalidRequest)
	}
	return u.String(), nil
}

// uriScheme is the scheme of a URI, bounded, for messages.
func uriScheme(raw string) string {
	scheme, _, ok := strings.Cut(raw, ":")
	if !ok || len(scheme) > 16 {
		return "non-pkcs11"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, scheme)
}

func (s *services) ListTokens(ctx context.Context, req *pb.ListTokensRequest) (*pb.ListTokensResponse, error) {
	if req.GetOp() != nil {
		req.Op.ForChoice = false // tokens are never listed withheld: a first-use origin is asked
	}
	ctx, _, err := s.allow(ctx, consent.List, req.GetOp(), "")
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	toks, err := s.m.keys.Tokens(ctx)
	resp := &pb.ListTokensResponse{}
	for _, t := range toks {
		resp.Tokens = append(resp.Tokens, wire.TokenToProto(t))
	}
	if err != nil {
		if len(toks) == 0 {
			return nil, wire.ToStatus(err)
		}
		resp.Problems = append(resp.Problems, err.Error())
	}
	return resp, nil
}

func (s *services) ListKeys(ctx context.Context, req *pb.ListKeysRequest) (*pb.ListKeysResponse, error) {
	if err := s.cleanURIs(&req.KeyUri); err != nil {
		return nil, err
	}
	ctx, creq, out, err := s.ask(ctx, consent.List, req.GetOp(), req.GetKeyUri(), false)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	var keys []hsm.KeyInfo
	if _, ok := pfx.IsMemoryURI(req.GetKeyUri()); ok {
		k, err := s.containerKey(req.GetKeyUri(), creq.Origin)
		if err != nil {
			s.record(ctx, creq, err)
			return nil, wire.ToStatus(err)
		}
		keys = []hsm.KeyInfo{k}
	} else if req.GetKeyUri() != "" {
		k, err := s.m.keys.Key(ctx, req.GetKeyUri())
		if err != nil {
			// The lookup of one key was allowed and journaled as a decision;
			// its failure (key not found, token removed) is journaled too.
			s.record(ctx, creq, err)
			return nil, wire.ToStatus(err)
		}
		keys = []hsm.KeyInfo{k}
	} else {
		keys, err = s.m.keys.Keys(ctx)
		uploaded := s.m.uploads.keys(s.plugin, creq.Origin)
		if err != nil && len(keys) == 0 && len(uploaded) == 0 {
			return nil, wire.ToStatus(err)
		}
		keys = append(keys, uploaded...)
	}
	resp := &pb.ListKeysResponse{Withheld: out.Withheld}
	if err != nil {
		resp.Problems = append(resp.Problems, err.Error())
	}
	for _, k := range keys {
		if out.Withheld {
			k = withheld(k)
		}
		pk, err := wire.KeyToProto(k)
		if err != nil {
			resp.Problems = append(resp.Problems, err.Error())
			continue
		}
		resp.Keys = append(resp.Keys, pk)
	}
	return resp, nil
}

// withheld is k as a listing for a key choice shows it to an origin the
// person has not allowed yet (consent.Outcome.Withheld): its URI and
// capabilities, nothing that names the key or its owner.
func withheld(k hsm.KeyInfo) hsm.KeyInfo {
	return hsm.KeyInfo{
		URI: k.URI, TokenURI: k.TokenURI, Algorithm: k.Algorithm, Bits: k.Bits,
		HasPrivateKey: k.HasPrivateKey, CanSign: k.CanSign, CanDecrypt: k.CanDecrypt,
		AlwaysAuthenticate: k.AlwaysAuthenticate,
	}
}

func (s *services) Sign(ctx context.Context, req *pb.SignRequest) (*pb.SignResponse, error) {
	if err := s.cleanURIs(&req.KeyUri); err != nil {
		return nil, err
	}
	opts, err := wire.SignerOptsFromProto(req)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	sign := func(ctx context.Context, uri string, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
		return s.m.keys.Sign(ctx, uri, digest, opts)
	}
	if _, ok := pfx.IsMemoryURI(req.GetKeyUri()); ok {
		// An uploaded container's key: only its plugin and origin find it,
		// before anyone is asked.
		if _, err := s.m.uploads.owner(s.plugin, req.GetOp().GetOrigin(), req.GetKeyUri()); err != nil {
			return nil, wire.ToStatus(err)
		}
		sign = s.m.uploads.sign
	}
	// A decision nobody was asked about (unattended rule, grant) is
	// journaled with the outcome in one record, and the signature leaves
	// only once that record is on disk.
	ctx, creq, out, err := s.ask(ctx, consent.Sign, req.GetOp(), req.GetKeyUri(), true)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	if creq.RequestID != "" && !s.m.claimRequest(s.plugin, creq.RequestID) {
		err := fmt.Errorf("request %q was already signed: %w", creq.RequestID, hsm.ErrInvalidRequest)
		s.log.Warn("refused duplicate request", "request_id", creq.RequestID, "key", req.GetKeyUri())
		s.record(ctx, creq, err)
		return nil, wire.ToStatus(err)
	}
	start := time.Now()
	sig, err := sign(ctx, req.GetKeyUri(), req.GetDigest(), opts)
	deferred := out.Deferred()
	if rerr := s.record(ctx, creq, err); rerr != nil && err == nil && deferred {
		// Fail closed: the only record of this signature's approval
		// could not be written, so the signature is withheld.
		sig, err = nil, fmt.Errorf("signature withheld: the journal cannot record it: %w", hsm.ErrDenied)
	}
	if err != nil {
		if creq.RequestID != "" {
			s.m.releaseRequest(s.plugin, creq.RequestID) // nothing was signed: a retry may sign
		}
		s.log.Info("sign failed", "key", req.GetKeyUri(), "origin", creq.Origin, "request_id", creq.RequestID, "error", err)
		return nil, wire.ToStatus(err)
	}
	s.log.Info("signed", "key", req.GetKeyUri(), "origin", creq.Origin, "caller", creq.Caller,
		"request_id", creq.RequestID, "digest", hex.EncodeToString(req.GetDigest()), "documents", len(creq.Documents),
		"duration", time.Since(start).Round(time.Microsecond))
	// GrantId: the grant the person accepted for this request, if any.
	return &pb.SignResponse{Signature: sig, GrantId: out.GrantID}, nil
}

func (s *services) Decrypt(ctx context.Context, req *pb.DecryptRequest) (*pb.DecryptResponse, error) {
	if err := s.cleanURIs(&req.KeyUri); err != nil {
		return nil, err
	}
	if len(req.GetCiphertext()) == 0 || len(req.GetCiphertext()) > wire.MaxCiphertext {
		return nil, wire.ToStatus(fmt.Errorf("ciphertext of %d bytes: %w", len(req.GetCiphertext()), hsm.ErrInvalidRequest))
	}
	opts, err := wire.DecrypterOptsFromProto(req)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	decrypt := func(ctx context.Context, uri string, ct []byte, opts crypto.DecrypterOpts) ([]byte, error) {
		return s.m.keys.Decrypt(ctx, uri, ct, opts)
	}
	if _, ok := pfx.IsMemoryURI(req.GetKeyUri()); ok {
		if _, err := s.m.uploads.owner(s.plugin, req.GetOp().GetOrigin(), req.GetKeyUri()); err != nil {
			return nil, wire.ToStatus(err)
		}
		decrypt = s.m.uploads.decrypt
	}
	ctx, creq, err := s.allow(ctx, consent.Decrypt, req.GetOp(), req.GetKeyUri())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	pt, err := decrypt(ctx, req.GetKeyUri(), req.GetCiphertext(), opts)
	s.record(ctx, creq, err)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	s.log.Info("decrypted", "key", req.GetKeyUri(), "origin", creq.Origin, "request_id", creq.RequestID)
	return &pb.DecryptResponse{Plaintext: pt}, nil
}

func (s *services) GenerateKey(ctx context.Context, req *pb.GenerateKeyRequest) (*pb.Key, error) {
	if err := s.cleanURIs(&req.TokenUri); err != nil {
		return nil, err
	}
	ctx, creq, err := s.allow(ctx, consent.Keygen, req.GetOp(), req.GetTokenUri())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	k, err := s.m.keys.GenerateKey(ctx, hsm.GenerateKeyRequest{
		TokenURI: req.GetTokenUri(), Label: req.GetLabel(), ID: req.GetId(),
		Algorithm: hsm.KeyAlgorithm(req.GetAlgorithm()), Bits: int(req.GetBits()),
	})
	s.record(ctx, creq, err)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	s.log.Info("generated key", "key", k.URI, "origin", creq.Origin, "request_id", creq.RequestID)
	out, err := wire.KeyToProto(k)
	return out, wire.ToStatus(err)
}

var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

func (s *services) CreateCSR(ctx context.Context, req *pb.CreateCSRRequest) (*pb.CreateCSRResponse, error) {
	if err := s.cleanURIs(&req.KeyUri); err != nil {
		return nil, err
	}
	ctx, creq, err := s.allow(ctx, consent.CSR, req.GetOp(), req.GetKeyUri())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	tmpl := &x509.CertificateRequest{}
	if len(req.GetTemplate()) > 0 {
		t, err := x509.ParseCertificateRequest(req.GetTemplate())
		if err != nil {
			return nil, wire.ToStatus(fmt.Errorf("CSR template: %v: %w", err, hsm.ErrInvalidRequest))
		}
		tmpl.Subject = t.Subject
		// The subject exactly as the plugin encoded it: pkix.Name drops
		// attributes it has no field for (UID, title, national OIDs) and
		// reorders the rest.
		tmpl.RawSubject = t.RawSubject
		tmpl.DNSNames, tmpl.EmailAddresses, tmpl.IPAddresses, tmpl.URIs = t.DNSNames, t.EmailAddresses, t.IPAddresses, t.URIs
		for _, e := range t.Extensions {
			if !e.Id.Equal(oidSAN) {
				tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, e)
			}
		}
	} else {
		tmpl.Subject.CommonName = req.GetSubjectCommonName()
		tmpl.DNSNames = req.GetDnsNames()
		tmpl.EmailAddresses = req.GetEmailAddresses()
	}
	key, err := s.m.keys.Key(ctx, req.GetKeyUri())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, hsm.Signer(ctx, s.m.keys, key.URI, key.PublicKey))
	s.record(ctx, creq, err)
	if err != nil {
		return nil, wire.ToStatus(fmt.Errorf("create CSR with %s: %w", key.URI, err))
	}
	s.log.Info("created CSR", "key", key.URI, "origin", creq.Origin, "request_id", creq.RequestID)
	return &pb.CreateCSRResponse{Csr: der}, nil
}

func (s *services) ImportCertificate(ctx context.Context, req *pb.ImportCertificateRequest) (*pb.Key, error) {
	if err := s.cleanURIs(&req.KeyUri, &req.TokenUri); err != nil {
		return nil, err
	}
	target := req.GetKeyUri()
	if target == "" {
		target = req.GetTokenUri()
	}
	ctx, creq, err := s.allow(ctx, consent.Import, req.GetOp(), target)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	cert, err := x509.ParseCertificate(req.GetCertificate())
	if err != nil {
		return nil, wire.ToStatus(fmt.Errorf("certificate: %v: %w", err, hsm.ErrInvalidRequest))
	}
	ireq := hsm.ImportCertificateRequest{KeyURI: req.GetKeyUri(), TokenURI: req.GetTokenUri(), Label: req.GetLabel(), Certificate: cert}
	for _, der := range req.GetChain() {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, wire.ToStatus(fmt.Errorf("chain certificate: %v: %w", err, hsm.ErrInvalidRequest))
		}
		ireq.Chain = append(ireq.Chain, c)
	}
	k, err := s.m.keys.ImportCertificate(ctx, ireq)
	s.record(ctx, creq, err)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	s.log.Info("imported certificate", "key", k.URI, "origin", creq.Origin, "request_id", creq.RequestID)
	out, err := wire.KeyToProto(k)
	return out, wire.ToStatus(err)
}

// Ask is the plugin asking the consent system directly.
func (s *services) Ask(ctx context.Context, req *pb.AskRequest) (*pb.AskResponse, error) {
	if err := s.cleanURIs(&req.KeyUri); err != nil {
		return nil, err
	}
	kind := consent.Origin
	switch req.GetOp().GetKind() {
	case pb.Operation_SIGN:
		kind = consent.Sign
	case pb.Operation_DECRYPT:
		kind = consent.Decrypt
	case pb.Operation_LIST:
		kind = consent.List
	}
	creq, err := s.request(kind, req.GetOp(), req.GetKeyUri())
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	creq.ForChoice = false // nothing is listed here
	if req.GetConfirm() {
		if kind != consent.Origin || creq.KeyURI != "" || req.GetGrantOnly() {
			return nil, wire.ToStatus(fmt.Errorf("a confirmation is an origin question without a key or grant: %w", hsm.ErrInvalidRequest))
		}
		creq.Confirm = true
	}
	if req.GetGrantOnly() {
		if (kind != consent.Sign && kind != consent.Decrypt) || creq.KeyURI == "" || creq.GrantUses < 1 || creq.GrantID != "" {
			return nil, wire.ToStatus(fmt.Errorf("grant request needs a sign or decrypt kind, a key and at least one use, and presents no grant: %w", hsm.ErrInvalidRequest))
		}
		creq.GrantOnly = true
	}
	var out consent.Outcome
	if err := s.m.consent.Ask(consent.WithOutcome(ctx, &out), creq); err != nil {
		return nil, wire.ToStatus(err)
	}
	return &pb.AskResponse{GrantId: out.GrantID}, nil
}

// ChooseKey asks the person to pick one of the candidate keys for a
// signature, in one dialog (E-IMZO's "ckc": whatever token key the person
// picks). The consent system does the rest — origin policy first, then the
// candidates looked up and shown, the pick, and a one-use grant for the
// signature (consent.Request.Choices, the Engine doc's "Choosing a key");
// the plugin presents the grant on the Sign that follows.
func (s *services) ChooseKey(ctx context.Context, req *pb.ChooseKeyRequest) (*pb.ChooseKeyResponse, error) {
	uris := req.GetKeyUris()
	if len(uris) == 0 || len(uris) > consent.MaxChoices || len(uris) > wire.MaxNames {
		return nil, wire.ToStatus(fmt.Errorf("choose a key among %d candidates (1 to %d): %w", len(uris), min(consent.MaxChoices, wire.MaxNames), hsm.ErrInvalidRequest))
	}
	for i := range uris {
		if err := s.cleanURIs(&uris[i]); err != nil {
			return nil, err
		}
	}
	op := req.GetOp()
	if op.GetGrantId() != "" || op.GetGrantUses() > consent.MaxChoiceUses {
		return nil, wire.ToStatus(fmt.Errorf("a key choice presents no grant and covers at most %d signatures: %w", consent.MaxChoiceUses, hsm.ErrInvalidRequest))
	}
	creq, err := s.request(consent.Sign, op, "")
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	filter, err := choiceFilter(req)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	creq.Filter = filter
	offered := make(map[string]bool, len(uris))
	for _, u := range uris {
		if u == "" || len(u) > wire.MaxText {
			return nil, wire.ToStatus(fmt.Errorf("candidate key URI of %d bytes: %w", len(u), hsm.ErrInvalidRequest))
		}
		if _, ok := pfx.IsMemoryURI(u); ok {
			if _, err := s.m.uploads.owner(s.plugin, op.GetOrigin(), u); err != nil {
				return nil, wire.ToStatus(err)
			}
		}
		if !offered[u] {
			offered[u] = true
			creq.Choices = append(creq.Choices, hsm.KeyInfo{URI: u})
		}
	}
	var out consent.Outcome
	if err := s.m.consent.Ask(consent.WithOutcome(ctx, &out), creq); err != nil {
		s.log.Info("key choice refused", "candidates", len(creq.Choices), "origin", creq.Origin, "request_id", creq.RequestID, "error", err)
		return nil, wire.ToStatus(err)
	}
	picked := out.KeyURI
	if picked == "" && len(creq.Choices) == 1 {
		picked = creq.Choices[0].URI // a consent system that allows without picking
	}
	if !offered[picked] {
		err := fmt.Errorf("the consent system picked none of the %d candidate keys: %w", len(creq.Choices), hsm.ErrDenied)
		s.log.Warn("key choice", "origin", creq.Origin, "error", err)
		return nil, wire.ToStatus(err)
	}
	key, err := s.chosenKey(ctx, picked, out.Key, filter, creq.Origin)
	if err != nil {
		// The choice's grant is never handed out; revoke it all the same.
		if r, ok := s.m.consent.(interface {
			RevokeGrant(context.Context, string) error
		}); ok && out.GrantID != "" {
			_ = r.RevokeGrant(context.WithoutCancel(ctx), out.GrantID)
		}
		s.log.Warn("key choice", "key", picked, "origin", creq.Origin, "error", err)
		return nil, wire.ToStatus(err)
	}
	s.log.Info("key chosen", "key", picked, "origin", creq.Origin, "caller", creq.Caller, "request_id", creq.RequestID,
		"candidates", len(creq.Choices), "grant", out.GrantID != "")
	return &pb.ChooseKeyResponse{KeyUri: picked, GrantId: out.GrantID, Key: key}, nil
}

// choiceFilter is the filter of a ChooseKey request, bounded.
func choiceFilter(req *pb.ChooseKeyRequest) (consent.ChoiceFilter, error) {
	algs := req.GetAlgorithms()
	if len(algs) > wire.MaxNames {
		return consent.ChoiceFilter{}, fmt.Errorf("key choice filter names %d algorithms (at most %d): %w", len(algs), wire.MaxNames, hsm.ErrInvalidRequest)
	}
	f := consent.ChoiceFilter{Certificate: req.GetNeedCertificate()}
	for _, a := range algs {
		if a == "" || len(a) > wire.MaxText {
			return consent.ChoiceFilter{}, fmt.Errorf("key choice filter: algorithm name of %d bytes: %w", len(a), hsm.ErrInvalidRequest)
		}
		f.Algorithms = append(f.Algorithms, hsm.KeyAlgorithm(a))
	}
	return f, nil
}

// chosenKey is the picked key in full for the plugin: as the consent
// system looked it up (with the URI the plugin sent), else from the key
// store. A key that does not pass the filter is refused: a consent system
// that picks without looking the candidates up (a test's) cannot slip one
// through.
func (s *services) chosenKey(ctx context.Context, uri string, looked *hsm.KeyInfo, f consent.ChoiceFilter, origin string) (*pb.Key, error) {
	var k hsm.KeyInfo
	if looked != nil && looked.PublicKey != nil {
		k = *looked
	} else {
		var err error
		if _, ok := pfx.IsMemoryURI(uri); ok {
			k, err = s.containerKey(uri, origin)
		} else {
			k, err = s.m.keys.Key(ctx, uri)
		}
		if err != nil {
			return nil, fmt.Errorf("the chosen key %s: %w", uri, err)
		}
	}
	k.URI = uri
	if !f.Match(k) {
		return nil, fmt.Errorf("the chosen key %s does not match the filter (%s): %w", uri, f, hsm.ErrKeyNotFound)
	}
	return wire.KeyToProto(k)
}

const maxLogBatch = 1000

// Write puts the plugin's log records into the host's log.
func (s *services) Write(ctx context.Context, batch *pb.LogBatch) (*pb.LogResponse, error) {
	recs := batch.GetRecords()
	if len(recs) > maxLogBatch {
		recs = recs[:maxLogBatch]
	}
	h := s.log.Handler()
	for _, r := range recs {
		lvl := slog.Level(r.GetLevel())
		if !h.Enabled(ctx, lvl) {
			continue
		}
		rec := slog.NewRecord(time.Unix(0, r.GetTimeUnixNano()), lvl, clip(r.GetMessage()), 0)
		for i, a := range r.GetAttrs() {
			if i >= wire.MaxNames {
				break
			}
			rec.AddAttrs(slog.String(clip(a.GetKey()), clip(a.GetValue())))
		}
		_ = h.Handle(ctx, rec)
	}
	return &pb.LogResponse{}, nil
}

func clip(s string) string {
	if len(s) > wire.MaxText {
		return s[:wire.MaxText] + "…"
	}
	return s
}

// IssueCertificate gives the plugin a TLS certificate from the local CA.
func (s *services) IssueCertificate(ctx context.Context, req *pb.IssueCertificateRequest) (*pb.IssueCertificateResponse, error) {
	names := req.GetNames()
	if len(names) == 0 || len(names) > wire.MaxNames {
		return nil, wire.ToStatus(fmt.Errorf("%d names: %w", len(names), hsm.ErrInvalidRequest))
	}
	if s.m.tls == nil {
		return nil, wire.ToStatus(fmt.Errorf("no local CA configured: %w", hsm.ErrUnsupported))
	}
	issue := s.m.tls.Issue
	if pi, ok := s.m.tls.(PluginCertIssuer); ok {
		issue = func(names []string) (tls.Certificate, error) { return pi.IssueFor(s.plugin, names) }
	}
	cert, err := issue(names)
	if err != nil {
		return nil, wire.ToStatus(fmt.Errorf("issue certificate for %v: %w", names, err))
	}
	chain, key, err := encodeTLS(cert)
	if err != nil {
		return nil, wire.ToStatus(err)
	}
	s.log.Debug("issued TLS certificate", "names", names)
	return &pb.IssueCertificateResponse{CertChainPem: chain, KeyPem: key}, nil
}

func encodeTLS(cert tls.Certificate) (chain, key []byte, err error) {
	for _, der := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encode TLS key: %w", err)
	}
	return chain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
