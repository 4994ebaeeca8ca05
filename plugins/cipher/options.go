package cipher

import (
	"encoding/json"
	"sort"
	"strings"
)

// options are a ticket's options (PUT /ticket/{uuid}/option).
type options struct {
	CAID             string
	Detached         bool
	Cades            string // "" (undefined), cadesBES or cadesT
	EmbedSignatureTs bool
	EmbedDataTs      bool
	EmbedCert        string // one of the embed* constants
	SignatureTsCheck string // one of the tsCheck* constants
	DataTsCheck      string
	AlreadySigned    bool
	DuplicateSign    bool
}

// Values of the enum options, normalised (normEnum).
const (
	cadesBES = "cadesbes"
	cadesT   = "cadest"

	embedSigner          = "signercert"
	embedSignerAndCA     = "signerandcacert"
	embedSignerAndCAInfo = "signercertandcainfo"
	embedNothing         = "nothing"

	tsCheckIgnore        = "ignore"
	tsCheckIfPresent     = "verifyifpresent"
	tsCheckOrFailMissing = "verifyorfailifnotpresent"
)

func defaultOptions() options {
	return options{EmbedCert: embedSigner, SignatureTsCheck: tsCheckIfPresent, DataTsCheck: tsCheckIfPresent}
}

// signatureTS: the signature gets a signature timestamp (CAdES-T). As
// Cipher documents, embedSignatureTs and embedDataTs count only while
// cadesType is undefined.
func (o options) signatureTS() bool {
	return o.Cades == cadesT || (o.Cades == "" && o.EmbedSignatureTs)
}

// contentTS: the signature gets a content timestamp (signed attribute).
func (o options) contentTS() bool { return o.Cades == "" && o.EmbedDataTs }

// normEnum makes enum spellings comparable: case, '_' and '-' do not
// matter (DETACHED, NOT_SIGNED_BEFORE, CADES_X_LONG, CAdESXLong).
func normEnum(s string) string {
	return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(strings.TrimSpace(s)))
}

// optionSetters are the documented options; each parses a value into o.
var optionSetters = map[string]func(o *options, v string) error{
	"caId": func(o *options, v string) error {
		if len(v) > 256 {
			return badParam("option caId: longer than 256 characters")
		}
		o.CAID = v
		return nil
	},
	"signatureType": func(o *options, v string) error {
		switch normEnum(v) {
		case "attached":
			o.Detached = false
		case "detached":
			o.Detached = true
		default:
			return badParam("option signatureType=%q: want attached or detached", v)
		}
		return nil
	},
	"cadesType": func(o *options, v string) error {
		switch normEnum(v) {
		case "", "undefined":
			o.Cades = ""
		case cadesBES:
			o.Cades = cadesBES
		case cadesT:
			o.Cades = cadesT
		default:
			return badParam("option cadesType=%q is not implemented: this agent creates CAdES-BES (CAdESBES) and CAdES-T (CAdEST, or undefined with embedSignatureTs=true); CAdES-C, -X and -X Long need revocation data it does not collect", v)
		}
		return nil
	},
	"embedSignatureTs": boolSetter("embedSignatureTs", func(o *options) *bool { return &o.EmbedSignatureTs }),
	"embedDataTs":      boolSetter("embedDataTs", func(o *options) *bool { return &o.EmbedDataTs }),
	"duplicateSign":    boolSetter("duplicateSign", func(o *options) *bool { return &o.DuplicateSign }),
	"embedCertificateType": func(o *options, v string) error {
		switch n := normEnum(v); n {
		case embedSigner, embedSignerAndCA, embedSignerAndCAInfo, embedNothing:
			o.EmbedCert = n
		default:
			return badParam("option embedCertificateType=%q: want signerCert, signerAndCaCert, signerCertAndCaInfo or nothing", v)
		}
		return nil
	},
	"signatureTsVerifyOption": tsCheckSetter("signatureTsVerifyOption", func(o *options) *string { return &o.SignatureTsCheck }),
	"dataTsVerifyOption":      tsCheckSetter("dataTsVerifyOption", func(o *options) *string { return &o.DataTsCheck }),
	"dataToSignQualifier": func(o *options, v string) error {
		switch normEnum(v) {
		case "notsignedbefore":
			o.AlreadySigned = false
		case "alreadysigned":
			o.AlreadySigned = true
		default:
			return badParam("option dataToSignQualifier=%q: want notSignedBefore or alreadySigned", v)
		}
		return nil
	},
	"asicForm": func(o *options, v string) error {
		if normEnum(v) != "none" {
			return badParam("option asicForm=%q is not implemented: only NONE (a CMS signature, no ASiC container)", v)
		}
		return nil
	},
}

func boolSetter(name string, field func(*options) *bool) func(*options, string) error {
	return func(o *options, v string) error {
		switch normEnum(v) {
		case "true":
			*field(o) = true
		case "false":
			*field(o) = false
		default:
			return badParam("option %s=%q: want true or false", name, v)
		}
		return nil
	}
}

func tsCheckSetter(name string, field func(*options) *string) func(*options, string) error {
	return func(o *options, v string) error {
		switch n := normEnum(v); n {
		case tsCheckIgnore, tsCheckIfPresent, tsCheckOrFailMissing:
			*field(o) = n
		default:
			return badParam("option %s=%q: want ignore, verifyIfPresent or verifyOrFailIfNotPresent", name, v)
		}
		return nil
	}
}

// knownOptions lists the option names for error messages.
func knownOptions() string {
	names := make([]string, 0, len(optionSetters))
	for n := range optionSetters {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// applyOptions applies a PUT option body to o: a JSON object whose values
// are strings, booleans or numbers (sent as strings by most clients). Option
// names match case-insensitively. Nothing changes when any option is bad.
func applyOptions(o options, body []byte) (options, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return o, badParam("option body: want a JSON object of option names and values: %v", err)
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		set, ok := lookupOption(name)
		if !ok {
			return o, badParam("unknown option %q; the options are %s", name, knownOptions())
		}
		v, err := optionValue(raw[name])
		if err != nil {
			return o, badParam("option %s: %v", name, err)
		}
		if err := set(&o, v); err != nil {
			return o, err
		}
	}
	return o, nil
}

func lookupOption(name string) (func(*options, string) error, bool) {
	if set, ok := optionSetters[name]; ok {
		return set, true
	}
	for n, set := range optionSetters {
		if strings.EqualFold(n, name) {
			return set, true
		}
	}
	return nil, false
}

// optionValue accepts a JSON string, boolean or number as text.
func optionValue(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		if b {
			return "true", nil
		}
		return "false", nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", errBadValue
}

var errBadValue = badParam("want a string, a boolean or a number")
