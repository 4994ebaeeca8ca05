package cryptoarm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// JSON-RPC 2.0 error codes, as the vendor's demo service uses them and as
// this plugin reports its own failures (README "Errors").
const (
	CodeParse          = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603
)

// JobError is a failure with the JSON-RPC code reported to the service.
type JobError struct {
	Code int
	Msg  string
	Err  error
}

func (e *JobError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s (%d): %v", e.Msg, e.Code, e.Err)
	}
	return fmt.Sprintf("%s (%d)", e.Msg, e.Code)
}

func (e *JobError) Unwrap() error { return e.Err }

func jobErr(code int, err error, format string, args ...any) error {
	return &JobError{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// codeOf is err's JSON-RPC code (CodeInternal when it has none).
func codeOf(err error) int {
	var je *JobError
	if errors.As(err, &je) {
		return je.Code
	}
	return CodeInternal
}

// Params is the "result" of a parameters response (or of a local job file),
// with the fields of every command; each command reads its own.
type Params struct {
	// Operation is a list (signAndEncrypt, diagnostics) or one string
	// (certificates, certrequests); both forms are accepted everywhere.
	Operation StringList `json:"operation"`
	Props     Props      `json:"props"`
	// UIView and Description are startView's (the vendor demo puts
	// description at the top level).
	UIView      string `json:"uiView"`
	Description string `json:"description"`
	// AppName and APIKey are shown in the consent dialog (local jobs).
	AppName string `json:"appName"`
	APIKey  string `json:"apiKey"`

	// id is the response's id (a local job's transaction id).
	id string
}

// Props are the command properties.
type Props struct {
	HeaderText      string          `json:"headerText"`
	DescriptionText string          `json:"descriptionText"`
	License         string          `json:"license"`
	Uploader        string          `json:"uploader"`
	Files           []File          `json:"files"`
	Extra           Extra           `json:"extra"`
	Store           StringList      `json:"store"`
	Multy           FlexBool        `json:"multy"`
	CertificateB64  string          `json:"certificateBase64"`
	TemplateType    string          `json:"templateType"`
	Template        json.RawMessage `json:"template"`
	// mail (Signet's schema, README "mail").
	To      string `json:"to"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
	// legacy: token in params
	Token string `json:"token"`
}

// File is one file of a job. ID is echoed back verbatim (a string or a
// number).
type File struct {
	Name        string          `json:"name"`
	URL         string          `json:"url"`
	ID          json.RawMessage `json:"id"`
	URLDetached string          `json:"urlDetached"`
	URLSign     string          `json:"urlSign"` // older spelling of urlDetached
}

// Detached is the URL of the file's detached signature, either spelling.
func (f File) Detached() string {
	if f.URLDetached != "" {
		return f.URLDetached
	}
	return f.URLSign
}

// Extra are signAndEncrypt's settings; enums arrive as numbers or strings.
type Extra struct {
	SignType        *Enum    `json:"signType"`
	SignStandart    *Enum    `json:"signStandart"`
	SignStandard    *Enum    `json:"signStandard"`
	SignEncoding    *Enum    `json:"signEncoding"`
	TimestampOnSign FlexBool `json:"timestampOnSign"`
	TimestampOnData FlexBool `json:"timestampOnData"`
	EncryptEncoding *Enum    `json:"encryptEncoding"`
	EncryptAlg      *Enum    `json:"encryptAlgorithm"`
	Token           string   `json:"token"`
	TSPURL          string   `json:"tspURL"`
	OCSPURL         string   `json:"ocspURL"`
	// Recipients are base64 DER certificates to encrypt to (Signet's
	// addition: CryptoARM's person picks them in its address book).
	Recipients []string `json:"recipients"`
}

// Standard is signStandart or, spelled the other way, signStandard.
func (e Extra) Standard() *Enum {
	if e.SignStandart != nil {
		return e.SignStandart
	}
	return e.SignStandard
}

// Enum is an enumeration sent as a number, a numeric string, or a name
// ("BASE64", "DER", "CMS", "detached", …).
type Enum struct {
	N    int
	Name string // upper case; "" when sent as a number
}

// UnmarshalJSON accepts 1, "1" and "NAME".
func (e *Enum) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if n, err := strconv.Atoi(s); err == nil {
			e.N = n
			return nil
		}
		e.N, e.Name = -1, strings.ToUpper(s)
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a number or a string: %w", err)
	}
	e.N = n
	return nil
}

// pick maps e to a value: by number, or by one of the names given for each
// value; def when e is nil.
func (e *Enum) pick(field string, def int, names map[int][]string) (int, error) {
	if e == nil {
		return def, nil
	}
	if e.Name == "" {
		if _, ok := names[e.N]; ok {
			return e.N, nil
		}
		return 0, jobErr(CodeInvalidParams, nil, "extra.%s: unknown value %d", field, e.N)
	}
	for v, ns := range names {
		for _, n := range ns {
			if e.Name == n {
				return v, nil
			}
		}
	}
	return 0, jobErr(CodeInvalidParams, nil, "extra.%s: unknown value %q", field, clip(e.Name))
}

// FlexBool is a boolean sent as true/false or "True"/"False"/"1"/"0".
type FlexBool bool

// UnmarshalJSON accepts booleans, strings and numbers.
func (f *FlexBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"`)
	switch strings.ToLower(s) {
	case "true", "1", "yes":
		*f = true
	case "false", "0", "no", "", "null":
		*f = false
	default:
		return fmt.Errorf("want a boolean, got %q", clip(s))
	}
	return nil
}

// StringList is a JSON array of strings or one string.
type StringList []string

// UnmarshalJSON accepts ["A","B"] and "A".
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*l = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("want a string or a list of strings: %w", err)
	}
	*l = ss
	return nil
}

// rpcResponse is a JSON-RPC response (or a local job file).
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *rpcError       `json:"error"`
	// Legacy generation: {"method":"sign","params":{…}}.
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// legacyParams is the params object of the legacy generation.
type legacyParams struct {
	License  string `json:"license"`
	Token    string `json:"token"`
	Files    []File `json:"files"`
	Extra    Extra  `json:"extra"`
	Uploader string `json:"uploader"`
}

// Limits on a job.
const (
	MaxParams   = 4 << 20 // a parameters response
	MaxFiles    = 100     // files in one job
	MaxNameLen  = 255     // a file name
	MaxFileSize = 64 << 20
	MaxJobSize  = 256 << 20 // all files of a job together
)

// ParseParams decodes a parameters response (or a local job file) into
// the command's parameters: the current generation's result, or the legacy
// generation's params. A response carrying an error fails with its
// message and code.
func ParseParams(data []byte) (Params, error) {
	if len(data) > MaxParams {
		return Params{}, jobErr(CodeInvalidRequest, nil, "parameters of %d bytes (at most %d)", len(data), MaxParams)
	}
	var resp rpcResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return Params{}, jobErr(CodeParse, err, "parameters are not a JSON-RPC response")
	}
	if resp.Error != nil {
		return Params{}, jobErr(CodeInvalidRequest, nil, "service error: %s (%d)", clip(resp.Error.Message), resp.Error.Code)
	}
	var p Params
	switch {
	case len(resp.Result) > 0 && !bytes.Equal(resp.Result, []byte("null")):
		if err := json.Unmarshal(resp.Result, &p); err != nil {
			return Params{}, jobErr(CodeInvalidParams, err, "parameters")
		}
	case len(resp.Params) > 0:
		var lp legacyParams
		if err := json.Unmarshal(resp.Params, &lp); err != nil {
			return Params{}, jobErr(CodeInvalidParams, err, "legacy parameters")
		}
		op := "SIGN"
		if strings.EqualFold(resp.Method, "verify") {
			op = "VERIFYSIGN"
		}
		p = Params{Operation: StringList{op}, Props: Props{License: lp.License, Uploader: lp.Uploader, Files: lp.Files, Extra: lp.Extra, Token: lp.Token}}
		if p.Props.Extra.Token == "" {
			p.Props.Extra.Token = lp.Token
		}
	default:
		return Params{}, jobErr(CodeInvalidRequest, nil, "parameters response without result")
	}
	if len(resp.ID) > 0 && len(resp.ID) <= 256 {
		p.id = rawString(resp.ID)
	}
	if len(p.Props.Files) > MaxFiles {
		return Params{}, jobErr(CodeInvalidParams, nil, "%d files (at most %d)", len(p.Props.Files), MaxFiles)
	}
	for i, f := range p.Props.Files {
		if err := checkName(f.Name); err != nil {
			return Params{}, jobErr(CodeInvalidParams, err, "files[%d].name", i)
		}
		if len(f.ID) > 256 {
			return Params{}, jobErr(CodeInvalidParams, nil, "files[%d].id of %d bytes", i, len(f.ID))
		}
	}
	return p, nil
}

// ErrBadName: a file name that is not a plain name.
var ErrBadName = errors.New("not a plain file name")

// checkName accepts a plain file name: not empty, no path separators, not
// "." or "..", no control characters, at most MaxNameLen bytes.
func checkName(name string) error {
	switch {
	case name == "", name == ".", name == "..", len(name) > MaxNameLen,
		strings.ContainsAny(name, `/\`),
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%w: %q", ErrBadName, clip(name))
	}
	return nil
}
