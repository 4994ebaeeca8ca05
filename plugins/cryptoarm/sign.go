package cryptoarm

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/cms"
)

// dispatch runs the job's command.
func (r *Runner) dispatch(ctx context.Context, j *job) error {
	switch j.link.Command {
	case CmdSignAndEncrypt, CmdLegacySign, CmdLegacyVerify:
		return j.signAndEncrypt(ctx)
	case CmdCertificates:
		return j.certificates(ctx)
	case CmdCertRequests:
		return j.certRequests(ctx)
	case CmdDiagnostics:
		return j.diagnostics(ctx)
	case CmdStartView:
		return j.startView(ctx)
	case CmdMail:
		return j.mail(ctx)
	}
	return jobErr(CodeMethodNotFound, nil, "command %q", j.link.Command)
}

// Operation classes of signAndEncrypt (§5.1).
var (
	directOps  = []string{"ARCHIVE", "SIGN", "ENCRYPT"}
	reverseOps = []string{"DECRYPT", "UNSIGN", "UNZIP"}
)

// operations checks the operation list: known names, one class.
func (j *job) operations() (ops []string, class string, err error) {
	for _, o := range j.params.Operation {
		o = strings.ToUpper(strings.TrimSpace(o))
		switch {
		case slices.Contains(directOps, o):
			if class != "" && class != "direct" {
				return nil, "", jobErr(CodeInvalidParams, nil, "operation mixes %s with other classes", o)
			}
			class = "direct"
		case slices.Contains(reverseOps, o):
			if class != "" && class != "reverse" {
				return nil, "", jobErr(CodeInvalidParams, nil, "operation mixes %s with other classes", o)
			}
			class = "reverse"
		case o == "VERIFYSIGN":
			if class != "" && class != "verify" {
				return nil, "", jobErr(CodeInvalidParams, nil, "operation mixes %s with other classes", o)
			}
			class = "verify"
		default:
			return nil, "", jobErr(CodeInvalidParams, nil, "unknown operation %q", clip(o))
		}
		if !slices.Contains(ops, o) {
			ops = append(ops, o)
		}
	}
	if len(ops) == 0 {
		return nil, "", jobErr(CodeInvalidParams, nil, "no operation")
	}
	return ops, class, nil
}

// signSettings are the extra fields of a signature.
type signSettings struct {
	detached  bool
	der       bool
	timestamp bool
}

func (j *job) signSettings() (signSettings, error) {
	e := j.params.Props.Extra
	var s signSettings
	t, err := e.SignType.pick("signType", 1, map[int][]string{0: {"ATTACHED"}, 1: {"DETACHED"}})
	if err != nil {
		return s, err
	}
	enc, err := e.SignEncoding.pick("signEncoding", 1, map[int][]string{0: {"BASE64", "PEM"}, 1: {"DER"}})
	if err != nil {
		return s, err
	}
	std, err := e.Standard().pick("signStandart", 0, map[int][]string{0: {"CMS", "CADES-BES", "BES"}, 1: {"CADES-X LONG TYPE 1", "CADES-XLT1", "CADES-X", "CADES-T"}})
	if err != nil {
		return s, err
	}
	s.detached, s.der = t == 1, enc == 1
	s.timestamp = bool(e.TimestampOnSign) || std == 1
	if s.timestamp && e.TSPURL == "" {
		return s, jobErr(CodeInvalidParams, nil, "a signature timestamp (timestampOnSign, CAdES) needs extra.tspURL")
	}
	if e.TimestampOnData {
		return s, jobErr(CodeInvalidParams, nil, "timestampOnData (content timestamp) is not supported; use timestampOnSign")
	}
	return s, nil
}

// signAndEncrypt runs the operations on every file and sends the results.
func (j *job) signAndEncrypt(ctx context.Context) error {
	ops, class, err := j.operations()
	if err != nil {
		return err
	}
	files := j.params.Props.Files
	if len(files) == 0 {
		return jobErr(CodeInvalidParams, nil, "no files")
	}
	var set signSettings
	if slices.Contains(ops, "SIGN") {
		if set, err = j.signSettings(); err != nil {
			return err
		}
	}
	j.describe(strings.ToLower(strings.Join(ops, ", ")) + " " + plural(len(files), "file"))
	items, err := j.download(ctx, class == "verify")
	if err != nil {
		return err
	}
	switch class {
	case "direct":
		if slices.Contains(ops, "ARCHIVE") {
			if items, err = archive(items); err != nil {
				return err
			}
		}
		if slices.Contains(ops, "SIGN") {
			if err := j.sign(ctx, items, set); err != nil {
				return err
			}
		}
		if slices.Contains(ops, "ENCRYPT") {
			if err := j.encrypt(items); err != nil {
				return err
			}
		}
		return j.sendResults(ctx, "signAndEncrypt.outDirectResults", "directResults", items)
	case "reverse":
		if slices.Contains(ops, "DECRYPT") {
			if err := j.decrypt(ctx, items); err != nil {
				return err
			}
		}
		if slices.Contains(ops, "UNSIGN") {
			for i := range items {
				c, err := cms.ExtractContent(decodeCMS(items[i].Data))
				if err != nil {
					return jobErr(CodeInvalidParams, err, "unsign %s", items[i].Name)
				}
				items[i].Data, items[i].Name = c, strings.TrimSuffix(items[i].Name, ".sig")
			}
		}
		if slices.Contains(ops, "UNZIP") {
			if items, err = unzip(items); err != nil {
				return err
			}
		}
		return j.sendResults(ctx, "signAndEncrypt.outReverseResults", "reverseResults", items)
	default:
		j.verify(items)
		return j.sendResults(ctx, "signAndEncrypt.verifySignResults", "verifySignResults", items)
	}
}

func plural(n int, s string) string {
	if n == 1 {
		return "1 " + s
	}
	return fmt.Sprintf("%d %ss", n, s)
}

// download fetches every file, bounded, and for verification the detached
// signature paired with it.
func (j *job) download(ctx context.Context, verify bool) ([]item, error) {
	var items []item
	var total int64
	for _, f := range j.params.Props.Files {
		it := item{ID: f.ID, Name: f.Name}
		src := f.URL
		if verify && f.Detached() != "" {
			sig, _, err := j.fetch(ctx, f.Detached(), MaxFileSize)
			if err != nil {
				return nil, jobErr(CodeInvalidParams, err, "download the signature of %s", f.Name)
			}
			it.Detached = sig
			total += int64(len(sig))
		}
		if src == "" {
			if verify && it.Detached != nil {
				return nil, jobErr(CodeInvalidParams, nil, "%s: a detached signature without the file (url)", f.Name)
			}
			return nil, jobErr(CodeInvalidParams, nil, "%s: no url", f.Name)
		}
		data, sum, err := j.fetch(ctx, src, MaxFileSize)
		if err != nil {
			return nil, jobErr(CodeInvalidParams, err, "download %s", f.Name)
		}
		total += int64(len(data))
		if total > MaxJobSize {
			return nil, jobErr(CodeInvalidParams, nil, "the job's files exceed %d bytes", MaxJobSize)
		}
		it.Data, it.Sum = data, sum
		items = append(items, it)
	}
	return items, nil
}

// documents describes the items for the consent dialog.
func documents(items []item) []sdk.Document {
	docs := make([]sdk.Document, len(items))
	for i, it := range items {
		docs[i] = sdk.Document{Name: it.Name, Size: int64(len(it.Data)), SHA256: append([]byte(nil), it.Sum[:]...)}
	}
	return docs
}

// chooseKey asks the person, in one dialog listing every file, the
// service and the job, to pick the signing key.
func (j *job) chooseKey(ctx context.Context, op sdk.Operation) (sdk.KeyChoice, error) {
	list := op
	list.ForChoice = true
	keys, err := j.r.cfg.Keys.Keys(ctx, list)
	if err != nil {
		return sdk.KeyChoice{}, fmt.Errorf("list keys: %w", err)
	}
	var cands []string
	for _, k := range keys {
		if k.HasPrivateKey && k.CanSign && keyMatches(k.URI, j.r.cfg.SigningKey) && len(cands) < sdk.MaxKeyChoices {
			cands = append(cands, k.URI)
		}
	}
	if len(cands) == 0 {
		return sdk.KeyChoice{}, jobErr(CodeInternal, sdk.ErrKeyNotFound, "no signing key")
	}
	return j.r.cfg.Consent.ChooseKey(ctx, cands, sdk.KeyFilter{Certificate: true}, op)
}

// sign signs every item once: each signature under a request id of its
// own, so the host never signs the same job file twice.
func (j *job) sign(ctx context.Context, items []item, set signSettings) error {
	op := j.op(documents(items))
	// One question for the whole job: the choice covers one signature
	// per file (its grant has that many uses).
	cop := op
	if len(items) > 1 {
		cop.GrantUses = len(items)
	}
	choice, err := j.chooseKey(ctx, cop)
	if err != nil {
		return err
	}
	key := choice.Key
	for i := range items {
		sop := op
		sop.Documents = documents(items[i : i+1])
		sop.RequestID = fmt.Sprintf("%s/sign/%d", op.RequestID, i)
		sop.GrantID = choice.GrantID
		signer := &hostSigner{ctx: ctx, ks: j.r.cfg.Keys, key: key, op: sop}
		der, err := cms.Sign(items[i].Data, signer, key.Certificate, &cms.SignOptions{Detached: set.detached, Chain: key.Chain})
		if err != nil {
			return fmt.Errorf("sign %s: %w", items[i].Name, err)
		}
		if set.timestamp {
			tsa := &cms.TSAClient{URL: j.params.Props.Extra.TSPURL, HTTPClient: tsaClient()}
			if der, err = tsa.Timestamp(ctx, der, 0); err != nil {
				return jobErr(CodeInternal, err, "timestamp from %s", clip(j.params.Props.Extra.TSPURL))
			}
		}
		rep, _ := cms.Verify(der, detachedReader(set.detached, items[i].Data), &cms.VerifyOptions{})
		var st *cms.SignerReport
		if rep != nil && len(rep.Signers) > 0 {
			st = rep.Signers[0]
		}
		items[i].Signers = []signerInfo{describeSigner(key.Certificate, st)}
		items[i].Data = encodeCMS(der, set.der)
		items[i].Name += ".sig"
	}
	return nil
}

func detachedReader(detached bool, data []byte) io.Reader {
	if detached {
		return bytes.NewReader(data)
	}
	return nil
}

// encodeCMS is DER, or PEM ("-----BEGIN CMS-----", as OpenSSL writes and
// reads it) for the BASE64 encoding.
func encodeCMS(der []byte, asDER bool) []byte {
	if asDER {
		return der
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CMS", Bytes: der})
}

// decodeCMS accepts DER, PEM (any label) or bare base64.
func decodeCMS(data []byte) []byte {
	t := bytes.TrimSpace(data)
	if b, _ := pem.Decode(t); b != nil {
		return b.Bytes
	}
	if len(t) > 0 && t[0] != 0x30 {
		if d, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(t), nil))); err == nil {
			return d
		}
	}
	return data
}

// encrypt makes a CMS EnvelopedData of each item for the recipients of
// extra.recipients.
func (j *job) encrypt(items []item) error {
	e := j.params.Props.Extra
	if e.EncryptAlg != nil {
		if _, err := e.EncryptAlg.pick("encryptAlgorithm", 0, map[int][]string{-1: {"AES256", "AES-256"}}); err != nil {
			return jobErr(CodeInvalidParams, err, "GOST encryption (28147-89, Magma, Kuznyechik) is not available: omit encryptAlgorithm for AES-256")
		}
	}
	enc, err := e.EncryptEncoding.pick("encryptEncoding", 1, map[int][]string{0: {"BASE64", "PEM"}, 1: {"DER"}})
	if err != nil {
		return err
	}
	if len(e.Recipients) == 0 {
		return jobErr(CodeInvalidParams, nil, "ENCRYPT needs extra.recipients (base64 DER certificates)")
	}
	if len(e.Recipients) > 32 {
		return jobErr(CodeInvalidParams, nil, "%d recipients (at most 32)", len(e.Recipients))
	}
	var certs []*x509.Certificate
	for i, s := range e.Recipients {
		c, err := parseCertB64(s)
		if err != nil {
			return jobErr(CodeInvalidParams, err, "extra.recipients[%d]", i)
		}
		certs = append(certs, c)
	}
	for i := range items {
		der, err := cms.Encrypt(items[i].Data, certs, cms.EncryptOptions{})
		if err != nil {
			return jobErr(CodeInvalidParams, err, "encrypt %s", items[i].Name)
		}
		items[i].Data = encodeCMS(der, enc == 1)
		items[i].Name += ".enc"
	}
	return nil
}

func parseCertB64(s string) (*x509.Certificate, error) {
	der := decodeCMS([]byte(s))
	return x509.ParseCertificate(der)
}

// decrypt decrypts each envelope with the person's key it is made for;
// the host asks the person (and the PIN) for each.
func (j *job) decrypt(ctx context.Context, items []item) error {
	op := j.op(documents(items))
	keys, err := j.r.cfg.Keys.Keys(ctx, op)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	for i := range items {
		der := decodeCMS(items[i].Data)
		var key *sdk.Key
		for k := range keys {
			c := keys[k].Certificate
			if c == nil || !keys[k].HasPrivateKey || !keys[k].CanDecrypt {
				continue
			}
			if rs, err := cms.EnvelopeRecipients(der); err == nil && recipientMatches(rs, c) {
				key = &keys[k]
				break
			}
		}
		if key == nil {
			return jobErr(CodeInvalidParams, cms.ErrNoRecipient, "decrypt %s: none of your keys is a recipient", items[i].Name)
		}
		dop := op
		dop.Documents = documents(items[i : i+1])
		dop.RequestID = fmt.Sprintf("%s/decrypt/%d", op.RequestID, i)
		plain, err := cms.Decrypt(der, key.Certificate, &hostDecrypter{ctx: ctx, ks: j.r.cfg.Keys, key: *key, op: dop})
		if err != nil {
			return jobErr(CodeInvalidParams, err, "decrypt %s", items[i].Name)
		}
		items[i].Data = plain
		items[i].Name = strings.TrimSuffix(items[i].Name, ".enc")
	}
	return nil
}

func recipientMatches(rs []cms.EnvelopeRecipient, c *x509.Certificate) bool {
	for _, r := range rs {
		switch {
		case r.SerialNumber != nil && bytes.Equal(r.RawIssuer, c.RawIssuer) && r.SerialNumber.Cmp(c.SerialNumber) == 0,
			len(r.SubjectKeyID) > 0 && bytes.Equal(r.SubjectKeyID, c.SubjectKeyId):
			return true
		}
	}
	return false
}

// verify checks each signature with sdk/cms and records the report.
func (j *job) verify(items []item) {
	roots := j.r.cfg.VerifyRoots
	for i := range items {
		sig, content := items[i].Data, io.Reader(nil)
		if items[i].Detached != nil {
			sig, content = items[i].Detached, bytes.NewReader(items[i].Data)
		}
		rep, err := cms.Verify(decodeCMS(sig), content, &cms.VerifyOptions{Roots: roots})
		ok := err == nil && rep != nil && rep.Valid()
		items[i].Status = &ok
		if rep != nil {
			for _, s := range rep.Signers {
				items[i].Signers = append(items[i].Signers, describeSigner(s.Certificate, s))
			}
		}
	}
}

// sendResults sends the items as one notification (§5.3, §5.4).
func (j *job) sendResults(ctx context.Context, method, member string, items []item) error {
	var results []map[string]any
	var outs []output
	for _, it := range items {
		m := map[string]any{"out": base64.StdEncoding.EncodeToString(it.Data)}
		if it.ID != nil {
			m["id"] = it.ID
		}
		if member == "reverseResults" {
			m["name"] = it.Name
		}
		if it.Signers != nil {
			m["signers"] = it.Signers
		}
		if it.Status != nil {
			m["status"] = *it.Status
			delete(m, "out")
		}
		results = append(results, m)
		outs = append(outs, output{ID: it.ID, Name: it.Name, Data: it.Data, Signers: it.Signers})
	}
	params := map[string]any{"id": j.link.ID, member: results}
	if member == "verifySignResults" {
		params["reverseResults"] = results // the document's example uses this member
	}
	if member == "verifySignResults" && j.web == nil {
		outs = nil // a local verification writes only the report
	}
	return j.send(ctx, j.resultURL(), notify(method, params), outs)
}

// Archive limits.
const MaxArchiveEntries = MaxFiles

// archive zips every item into one (§5.3: one output, no id).
func archive(items []item) ([]item, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, it := range items {
		w, err := zw.Create(it.Name)
		if err != nil {
			return nil, jobErr(CodeInternal, err, "archive")
		}
		w.Write(it.Data)
	}
	if err := zw.Close(); err != nil {
		return nil, jobErr(CodeInternal, err, "archive")
	}
	return []item{{Name: "archive.zip", Data: buf.Bytes(), Sum: sha256.Sum256(buf.Bytes())}}, nil
}

// unzip extracts each ZIP, bounded in entries and sizes; entry names must
// be plain names (directories are flattened away, traversal refused).
func unzip(items []item) ([]item, error) {
	var out []item
	var total int64
	for _, it := range items {
		zr, err := zip.NewReader(bytes.NewReader(it.Data), int64(len(it.Data)))
		if err != nil {
			return nil, jobErr(CodeInvalidParams, err, "unzip %s", it.Name)
		}
		for _, f := range zr.File {
			if f.FileInfo().IsDir() {
				continue
			}
			name := path.Base(f.Name)
			if err := checkName(name); err != nil || strings.Contains(f.Name, "..") {
				return nil, jobErr(CodeInvalidParams, ErrBadName, "unzip %s: entry %q", it.Name, clip(f.Name))
			}
			if len(out) >= MaxArchiveEntries {
				return nil, jobErr(CodeInvalidParams, nil, "unzip: more than %d entries", MaxArchiveEntries)
			}
			rc, err := f.Open()
			if err != nil {
				return nil, jobErr(CodeInvalidParams, err, "unzip %s", it.Name)
			}
			data, sum, err := readHashed(rc, MaxFileSize)
			rc.Close()
			if err != nil {
				return nil, jobErr(CodeInvalidParams, err, "unzip %s: %s", it.Name, name)
			}
			total += int64(len(data))
			if total > MaxJobSize {
				return nil, jobErr(CodeInvalidParams, nil, "unzip: more than %d bytes", MaxJobSize)
			}
			out = append(out, item{ID: it.ID, Name: name, Data: data, Sum: sum})
		}
	}
	return out, nil
}

// keyMatches reports whether uri is named by filter: "" names every key;
// a pkcs11: filter names the keys whose URI path has all its attributes
// (in any order); another filter is a prefix.
func keyMatches(uri, filter string) bool {
	f, ok := strings.CutPrefix(filter, "pkcs11:")
	if !ok {
		return strings.HasPrefix(uri, filter)
	}
	u, ok := strings.CutPrefix(uri, "pkcs11:")
	if !ok {
		return false
	}
	u, _, _ = strings.Cut(u, "?")
	have := strings.Split(u, ";")
	for _, a := range strings.Split(f, ";") {
		if a != "" && !slices.Contains(have, a) {
			return false
		}
	}
	return true
}
