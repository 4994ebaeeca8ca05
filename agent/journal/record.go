package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signet-agent/signet/hsm"
)

// Op is the kind of operation a record describes. The set is open: the
// constants below are the ones the host writes today.
type Op string

// Operation kinds.
const (
	OpSign    Op = "sign"
	OpDecrypt Op = "decrypt"
	OpKeygen  Op = "keygen"
	OpCSR     Op = "csr"
	OpImport  Op = "import"
	OpList    Op = "list"
	OpConsent Op = "consent"      // a consent decision on its own (first use of an origin, a batch)
	OpGrant   Op = "grant"        // a grant was created
	OpRevoke  Op = "grant-revoke" // a grant was revoked
	// OpRotate starts every journal file after the first: it names the
	// file before it and that file's last record (see docs/journal.md,
	// "Rotation").
	OpRotate Op = "journal-rotate"
)

// Decision says whether the operation was allowed and DecidedBy says who
// decided.
type Decision string

// Decisions.
const (
	DecisionNone      Decision = ""          // no decision was needed or made
	DecisionAllowed   Decision = "allowed"   // approved
	DecisionDenied    Decision = "denied"    // refused
	DecisionTimeout   Decision = "timeout"   // nobody answered in time
	DecisionCancelled Decision = "cancelled" // the request went away (caller gone, PIN entry cancelled)
)

// Who decided.
const (
	ByUser   = "user"   // the person, in the consent dialog or terminal prompt
	ByGrant  = "grant"  // a grant (GrantID says which) allowed it
	ByPolicy = "policy" // an unattended rule or a remembered decision
	ByAdmin  = "admin"  // the administrator's allow/deny list in the config file
)

// Results.
const (
	ResultOK    = "ok"
	ResultError = "error"
)

// Document is one document an operation concerned: what the person saw.
type Document struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"` // lowercase hex, 64 characters, or empty
}

// Record is one journal entry.
//
// There is deliberately no field for a PIN, password, key material or
// document content, and none must be added: a journal is readable by
// whoever can read the user's data directory and is meant to be shown and
// exported. Error messages come from the hsm and consent packages, whose
// errors never contain a PIN (project rule); Append does not scan for them.
//
// The caller fills the descriptive fields; Append sets Seq, PrevHash and
// Hash, and Time when it is zero. Strings are stored as given, made valid
// UTF-8 and bounded; they come from plugins and web pages (a Cipher
// summary is HTML), so whoever displays them must escape them.
type Record struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"` // UTC

	Plugin    string `json:"plugin,omitempty"`
	Origin    string `json:"origin,omitempty"` // web origin
	Caller    string `json:"caller,omitempty"` // local caller, when there is no origin
	RequestID string `json:"request_id,omitempty"`

	Op         Op         `json:"op"`
	Summary    string     `json:"summary,omitempty"` // the plugin's human summary
	KeyURI     string     `json:"key_uri,omitempty"`
	CertSerial string     `json:"cert_serial,omitempty"` // hex
	Documents  []Document `json:"documents,omitempty"`
	// DocumentsOmitted counts documents beyond MaxDocuments that were not
	// listed individually.
	DocumentsOmitted int `json:"documents_omitted,omitempty"`

	// Evidence is what the plugin offered as protocol evidence (E-IMZO's
	// vendor API key, CryptoARM's pinned portal certificate fingerprint):
	// at most MaxEvidence entries (the first by key order are kept), keys
	// and values bounded and made valid UTF-8 like the other strings.
	Evidence map[string]string `json:"evidence,omitempty"`

	Decision  Decision `json:"decision,omitempty"`
	DecidedBy string   `json:"decided_by,omitempty"` // ByUser, ByGrant, ByPolicy, ByAdmin
	GrantID   string   `json:"grant_id,omitempty"`

	Result    string `json:"result,omitempty"`     // ResultOK or ResultError; empty for a pure decision
	ErrorKind string `json:"error_kind,omitempty"` // see ErrorKind
	Error     string `json:"error,omitempty"`

	// Repeat is set on a record that stands for several refusals of one
	// origin (see AppendRefusal): how many, and when the first and last
	// of them happened.
	Repeat *Repeat `json:"repeat,omitempty"`

	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Repeat counts the refusals a coalesced record stands for.
type Repeat struct {
	Count int       `json:"count"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// Size bounds. Append truncates longer strings (at a UTF-8 boundary, with a
// trailing "…") and lists at most MaxDocuments documents, so that a record
// always fits in MaxLine; readers reject longer lines.
const (
	MaxLine      = 1 << 20
	MaxDocuments = 1024
	// MaxSeq bounds sequence numbers (to integers a JSON reader in any
	// language represents exactly); it is never reached in practice.
	MaxSeq = 1 << 53
	// MaxEvidence bounds Record.Evidence's entries.
	MaxEvidence    = 16
	maxEvidenceKey = 64
	maxName        = 512
	maxText        = 2048
	maxField       = 1024
)

// Genesis is the prev_hash of the first record: the SHA-256 of the string
// "signet journal genesis v1", in hex.
var Genesis = func() string {
	s := sha256.Sum256([]byte("signet journal genesis v1"))
	return hex.EncodeToString(s[:])
}()

// hashTag starts every canonical encoding, so a journal hash can never be
// confused with the hash of anything else.
const hashTag = "signet-journal-record-v1"

// canonical is the byte string a record's hash is computed over: the tag,
// then every field (Hash excepted, PrevHash included) in a fixed order, each
// as an 8-byte big-endian length followed by its bytes; numbers in decimal,
// the time as RFC 3339 with nanoseconds in UTC, documents as a count followed
// by name, size, sha256 for each. Being independent of JSON formatting, it
// survives re-encoding, and length prefixes make field boundaries
// unambiguous.
//
// Evidence was added later: it is encoded only when present, after
// PrevHash, as the string "evidence", the entry count, then key and value
// of each entry in key order. A record without evidence has exactly the
// encoding (and hash) it had before the field existed, so older journals
// still verify. Repeat, added after it, follows the same rule: only when
// present, as the string "repeat", the count, the first and the last time.
func (r *Record) canonical() []byte {
	var b bytes.Buffer
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		b.Write(n[:])
		b.WriteString(s)
	}
	put(hashTag)
	put(strconv.FormatUint(r.Seq, 10))
	put(r.Time.UTC().Format(time.RFC3339Nano))
	put(r.Plugin)
	put(r.Origin)
	put(r.Caller)
	put(r.RequestID)
	put(string(r.Op))
	put(r.Summary)
	put(r.KeyURI)
	put(r.CertSerial)
	put(strconv.Itoa(len(r.Documents)))
	for _, d := range r.Documents {
		put(d.Name)
		put(strconv.FormatInt(d.Size, 10))
		put(d.SHA256)
	}
	put(strconv.Itoa(r.DocumentsOmitted))
	put(string(r.Decision))
	put(r.DecidedBy)
	put(r.GrantID)
	put(r.Result)
	put(r.ErrorKind)
	put(r.Error)
	put(r.PrevHash)
	if len(r.Evidence) > 0 {
		put("evidence")
		put(strconv.Itoa(len(r.Evidence)))
		for _, k := range slices.Sorted(maps.Keys(r.Evidence)) {
			put(k)
			put(r.Evidence[k])
		}
	}
	if r.Repeat != nil {
		put("repeat")
		put(strconv.Itoa(r.Repeat.Count))
		put(r.Repeat.First.UTC().Format(time.RFC3339Nano))
		put(r.Repeat.Last.UTC().Format(time.RFC3339Nano))
	}
	return b.Bytes()
}

// ComputeHash returns the hex SHA-256 of the record's canonical encoding.
func (r *Record) ComputeHash() string {
	s := sha256.Sum256(r.canonical())
	return hex.EncodeToString(s[:])
}

// clip makes s valid UTF-8 no longer than max bytes.
func clip(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	const ell = "…"
	cut := max - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// normalize bounds and cleans the descriptive fields so that the record
// survives a JSON round trip unchanged (JSON would silently replace invalid
// UTF-8, breaking the hash) and fits in MaxLine.
func (r *Record) normalize() {
	r.Time = r.Time.UTC().Round(0)
	r.Plugin = clip(r.Plugin, maxField)
	r.Origin = clip(r.Origin, maxField)
	r.Caller = clip(r.Caller, maxField)
	r.RequestID = clip(r.RequestID, maxField)
	r.Op = Op(clip(string(r.Op), 64))
	r.Summary = clip(r.Summary, maxText)
	r.KeyURI = clip(r.KeyURI, maxField)
	r.CertSerial = clip(r.CertSerial, maxField)
	if r.DocumentsOmitted < 0 {
		r.DocumentsOmitted = 0
	}
	if len(r.Documents) > MaxDocuments {
		r.DocumentsOmitted += len(r.Documents) - MaxDocuments
		r.Documents = r.Documents[:MaxDocuments]
	}
	docs := make([]Document, len(r.Documents))
	for i, d := range r.Documents {
		docs[i] = Document{Name: clip(d.Name, maxName), Size: d.Size, SHA256: strings.ToLower(d.SHA256)}
		if !isHex(docs[i].SHA256, 64) {
			docs[i].SHA256 = "" // never store something that only looks like a digest
		}
	}
	if len(docs) == 0 {
		docs = nil
	}
	r.Documents = docs
	r.Evidence = normalizeEvidence(r.Evidence)
	r.Decision = Decision(clip(string(r.Decision), 64))
	r.DecidedBy = clip(r.DecidedBy, 64)
	r.GrantID = clip(r.GrantID, 128)
	r.Result = clip(r.Result, 64)
	r.ErrorKind = clip(r.ErrorKind, 64)
	r.Error = clip(r.Error, maxText)
	if r.Repeat != nil {
		rp := *r.Repeat
		rp.Count = max(rp.Count, 1)
		rp.First, rp.Last = rp.First.UTC().Round(0), rp.Last.UTC().Round(0)
		r.Repeat = &rp
	}
}

// normalizeEvidence returns a bounded copy of ev (nil when empty): keys in
// order, the first MaxEvidence distinct non-empty keys after clipping.
func normalizeEvidence(ev map[string]string) map[string]string {
	if len(ev) == 0 {
		return nil
	}
	out := make(map[string]string, min(len(ev), MaxEvidence))
	for _, k := range slices.Sorted(maps.Keys(ev)) {
		if len(out) == MaxEvidence {
			break
		}
		ck := clip(k, maxEvidenceKey)
		if _, dup := out[ck]; dup || ck == "" {
			continue
		}
		out[ck] = clip(ev[k], maxField)
	}
	return out
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// DocumentDigest formats a SHA-256 digest for Document.SHA256.
func DocumentDigest(sum []byte) string { return hex.EncodeToString(sum) }

// errMalformed is wrapped by parseLine errors.
var errMalformed = errors.New("malformed record")

// parseLine decodes one journal line strictly: unknown fields, trailing
// data, missing or ill-formed seq, time, op and hashes are errors.
func parseLine(line []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if len(bytes.TrimRight(line[dec.InputOffset():], " \t\r")) != 0 {
		return Record{}, fmt.Errorf("%w: data after the record", errMalformed)
	}
	switch {
	case r.Seq == 0:
		return Record{}, fmt.Errorf("%w: missing seq", errMalformed)
	case r.Seq > MaxSeq:
		return Record{}, fmt.Errorf("%w: seq beyond %d", errMalformed, uint64(MaxSeq))
	case r.Time.IsZero():
		return Record{}, fmt.Errorf("%w: missing time", errMalformed)
	case r.Op == "":
		return Record{}, fmt.Errorf("%w: missing op", errMalformed)
	case !isHex(r.Hash, 64):
		return Record{}, fmt.Errorf("%w: hash is not 64 lowercase hex digits", errMalformed)
	case !isHex(r.PrevHash, 64):
		return Record{}, fmt.Errorf("%w: prev_hash is not 64 lowercase hex digits", errMalformed)
	}
	return r, nil
}

// ErrorKind names the kind of err for Record.ErrorKind: the hsm sentinel
// it matches ("pin-incorrect", "denied", …), "cancelled" for a cancelled
// context, or "error".
func ErrorKind(err error) string {
	kinds := []struct {
		err  error
		kind string
	}{
		{hsm.ErrPINLocked, "pin-locked"},
		{hsm.ErrPINIncorrect, "pin-incorrect"},
		{hsm.ErrFinalTry, "pin-final-try"},
		{hsm.ErrTokenRemoved, "token-removed"},
		{hsm.ErrKeyNotFound, "key-not-found"},
		{hsm.ErrDenied, "denied"},
		{hsm.ErrTimeout, "timeout"},
		{hsm.ErrCancelled, "cancelled"},
		{hsm.ErrUnsupported, "unsupported"},
		{hsm.ErrInvalidURI, "invalid-uri"},
		{hsm.ErrInvalidRequest, "invalid-request"},
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errContextCanceled):
		return "cancelled"
	case errors.Is(err, errDeadline):
		return "timeout"
	}
	return "error"
}

// SetOutcome fills Result, ErrorKind and Error from err (nil means ok).
func (r *Record) SetOutcome(err error) {
	if err == nil {
		r.Result, r.ErrorKind, r.Error = ResultOK, "", ""
		return
	}
	r.Result, r.ErrorKind, r.Error = ResultError, ErrorKind(err), err.Error()
}
