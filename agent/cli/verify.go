package cli

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/internal/limitread"
	"github.com/signet-agent/signet/sdk/cms"
)

// maxVerifyInput bounds the signature file verify reads into memory (an
// attached signature holds its content).
const maxVerifyInput = 256 << 20

// errNotVerified is the error verify returns when the message parsed but a
// signer failed; the report says why.
var errNotVerified = errors.New("the signature does not verify")

// VerifyJSON is `signet verify --json` output.
type VerifyJSON struct {
	File        string             `json:"file"`
	Detached    bool               `json:"detached"`
	ContentType string             `json:"content_type"`
	Valid       bool               `json:"valid"`
	Signers     []VerifySignerJSON `json:"signers"`
}

// VerifySignerJSON is one signer in VerifyJSON.
type VerifySignerJSON struct {
	Subject            string     `json:"subject,omitempty"`
	Issuer             string     `json:"issuer,omitempty"`
	Serial             string     `json:"serial,omitempty"` // hex
	SignatureAlgorithm string     `json:"signature_algorithm"`
	DigestAlgorithm    string     `json:"digest_algorithm"`
	SigningTime        *time.Time `json:"signing_time,omitempty"`
	Timestamp          *time.Time `json:"timestamp,omitempty"`
	TSA                string     `json:"tsa,omitempty"`
	SignatureOK        bool       `json:"signature_ok"`
	Chain              string     `json:"chain"`
	Valid              bool       `json:"valid"`
	Errors             []string   `json:"errors,omitempty"`
}

func newVerifyCmd(a *App) *cobra.Command {
	var content, rootsFile string
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify FILE.p7s [--content FILE] [--roots FILE]",
		Short: "Check a CMS (PKCS#7) signature and report on each signer",
		Long: "Verify the CMS SignedData in FILE (DER, BER, PEM or bare base64, as E-IMZO returns it)\n" +
			"with every algorithm Signet knows: RSA, RSA-PSS, ECDSA, Ed25519, GOST R 34.10-2012\n" +
			"(256/512), GOST R 34.10-2001 and O'zDSt 1092:2009. A detached signature needs\n" +
			"--content. With --roots (PEM or DER certificates) each signer's chain is checked at\n" +
			"its timestamp's time, else its signingTime; without it the chain is reported as\n" +
			"not checked and only the cryptography counts. Exits 0 when every signer is valid.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readSignatureFile(args[0])
			if err != nil {
				return err
			}
			opts := &cms.VerifyOptions{}
			if rootsFile != "" {
				roots, err := readCerts(rootsFile)
				if err != nil {
					return fmt.Errorf("--roots: %w", err)
				}
				opts.Roots = x509.NewCertPool()
				for _, r := range roots {
					opts.Roots.AddCert(r)
				}
				// GOST paths are built from certificates at hand (crypto/x509
				// cannot check them), so the roots are candidates too.
				opts.Certificates = roots
			}
			var detached io.Reader
			if content != "" {
				f, err := os.Open(content)
				if err != nil {
					return fmt.Errorf("--content: %w", err)
				}
				defer f.Close()
				detached = f
			}
			rep, err := cms.Verify(data, detached, opts)
			if rep == nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if rep.Detached && detached == nil {
				return usagef("%s is a detached signature: give the signed file with --content", args[0])
			}
			out := verifyJSON(args[0], rep)
			if asJSON {
				enc := json.NewEncoder(a.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else {
				printVerify(a.Stdout, out)
			}
			if err != nil || !rep.Valid() {
				return fmt.Errorf("%s: %w", args[0], errNotVerified)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&content, "content", "", "the signed `file`, for a detached signature")
	f.StringVar(&rootsFile, "roots", "", "trusted root certificates (PEM or DER `file`) to check the chains against")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// readSignatureFile reads a CMS message as DER/BER, PEM (CMS, PKCS7) or
// bare base64.
func readSignatureFile(path string) ([]byte, error) {
	data, err := limitread.File(path, maxVerifyInput)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		b, _ := pem.Decode(trimmed)
		if b == nil || (b.Type != "CMS" && b.Type != "PKCS7") {
			return nil, fmt.Errorf("%s: PEM that is not a CMS or PKCS7 block", path)
		}
		return b.Bytes, nil
	}
	if len(trimmed) > 0 && trimmed[0] != 0x30 {
		clean := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, string(trimmed))
		if der, err := base64.StdEncoding.DecodeString(clean); err == nil {
			return der, nil
		}
		return nil, fmt.Errorf("%s: neither DER/BER, PEM nor base64", path)
	}
	return data, nil
}

func verifyJSON(file string, rep *cms.Report) VerifyJSON {
	out := VerifyJSON{File: file, Detached: rep.Detached, ContentType: rep.ContentType.String(), Valid: rep.Valid()}
	for _, s := range rep.Signers {
		j := VerifySignerJSON{Subject: s.Subject, Issuer: s.Issuer, Serial: s.SerialHex,
			SignatureAlgorithm: s.SignatureAlgorithm, DigestAlgorithm: s.DigestAlgorithm,
			SignatureOK: s.SignatureOK, Chain: string(s.ChainStatus), Valid: s.Valid()}
		if s.HasSigningTime {
			t := s.SigningTime
			j.SigningTime = &t
		}
		if s.Timestamp != nil && s.Timestamp.Valid() {
			t := s.Timestamp.Time
			j.Timestamp, j.TSA = &t, s.Timestamp.TSA
		}
		for _, e := range s.Errors {
			j.Errors = append(j.Errors, e.Error())
		}
		out.Signers = append(out.Signers, j)
	}
	return out
}

func printVerify(w io.Writer, v VerifyJSON) {
	kind := "attached"
	if v.Detached {
		kind = "detached"
	}
	fmt.Fprintf(w, "%s: %s signature, %d signer(s)\n", v.File, kind, len(v.Signers))
	for i, s := range v.Signers {
		fmt.Fprintf(w, "signer %d: %s\n", i+1, orDash(s.Subject))
		if s.Issuer != "" {
			fmt.Fprintf(w, "    issuer:    %s\n", s.Issuer)
		}
		if s.Serial != "" {
			fmt.Fprintf(w, "    serial:    %s\n", s.Serial)
		}
		fmt.Fprintf(w, "    algorithm: %s with %s\n", s.SignatureAlgorithm, s.DigestAlgorithm)
		if s.SigningTime != nil {
			fmt.Fprintf(w, "    signed at: %s (signingTime, the signer's clock)\n", s.SigningTime.UTC().Format(time.RFC3339))
		}
		if s.Timestamp != nil {
			fmt.Fprintf(w, "    timestamp: %s by %s\n", s.Timestamp.UTC().Format(time.RFC3339), s.TSA)
		}
		fmt.Fprintf(w, "    signature: %s\n", map[bool]string{true: "valid", false: "INVALID"}[s.SignatureOK])
		fmt.Fprintf(w, "    chain:     %s\n", s.Chain)
		for _, e := range s.Errors {
			fmt.Fprintf(w, "    error:     %s\n", e)
		}
	}
	fmt.Fprintf(w, "result: %s\n", map[bool]string{true: "valid", false: "NOT VALID"}[v.Valid])
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
