package cipher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/signet-agent/signet/sdk/cms"
)

// verifyOutcome is the result of a verification job.
type verifyOutcome struct {
	valid   bool
	cause   string
	results []map[string]any
}

// startVerify verifies the session's signature (ds/data; without one, the
// data as an attached signature) against its data.
func (s *Server) startVerify(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
	t.mu.Lock()
	sig, data, opts := t.sig, t.data, t.opts
	t.mu.Unlock()
	if sig == nil {
		sig, data = data, nil
	}
	if sig == nil {
		return badParam("no signature in this session: POST /ticket/{uuid}/ds/data first")
	}
	return s.startJobAndReply(w, t, jobVerify, func(ctx context.Context) (*blob, any, error) {
		out, err := s.verify(sig, data, opts)
		return nil, out, err
	})
}

func (s *Server) verify(sig, data *blob, opts options) (*verifyOutcome, error) {
	der, err := readBlob(sig, s.cfg.Limits.MaxSignature)
	if err != nil {
		return nil, err
	}
	sd, err := cms.ParseSignedData(der)
	if err != nil {
		return &verifyOutcome{cause: fmt.Sprintf("not a CMS signature: %v", err)}, nil
	}
	var detached io.Reader
	if !sd.HasContent {
		if data == nil {
			return nil, badParam("the signature is detached: POST /ticket/{uuid}/data with the signed data first")
		}
		f, err := os.Open(data.path)
		if err != nil {
			return nil, fmt.Errorf("the session's data is gone: %w", err)
		}
		defer f.Close()
		detached = f
	}
	report, verr := cms.Verify(der, detached, &cms.VerifyOptions{Roots: s.cfg.Roots})
	if report == nil {
		return &verifyOutcome{cause: causeOfVerify(verr)}, nil
	}
	out := &verifyOutcome{valid: true}
	var causes []string
	for _, sr := range report.Signers {
		res, ok, cause := signerResult(sr, opts, report.Detached)
		out.results = append(out.results, res)
		if !ok {
			out.valid = false
			causes = append(causes, cause)
		}
	}
	if len(report.Signers) == 0 {
		out.valid = false
		causes = append(causes, "the message has no signers")
	}
	out.cause = strings.Join(causes, "; ")
	return out, nil
}

func causeOfVerify(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// signerResult is one verifyResults element.
func signerResult(sr *cms.SignerReport, opts options, detached bool) (map[string]any, bool, string) {
	valid := sr.Valid()
	var cause string
	if err := sr.Err(); err != nil {
		cause = err.Error()
	}
	sigType := "CAdES-BES"
	var tss []map[string]any
	if sr.Timestamp != nil {
		sigType = "CAdES-T"
		tss = append(tss, map[string]any{
			"dateTime": fmtTime(sr.Timestamp.Time), "tsa": sr.Timestamp.TSA,
			"isValid": sr.Timestamp.Valid(), "status": status(sr.Timestamp.Valid()),
		})
	} else if opts.SignatureTsCheck == tsCheckOrFailMissing {
		valid = false
		cause = strings.TrimPrefix(cause+"; the signature has no timestamp (signatureTsVerifyOption=verifyOrFailIfNotPresent)", "; ")
	}
	if tss == nil {
		tss = []map[string]any{}
	}
	res := map[string]any{
		"status":              status(valid),
		"isValid":             valid,
		"isUntrustedValid":    sr.SignatureOK && sr.ContentDigestOK,
		"signatureType":       sigType,
		"detached":            detached,
		"signatureTimestamps": tss,
		"contentTimestamp":    nil,
		"chainStatus":         string(sr.ChainStatus),
	}
	if cause != "" {
		res["failureCause"] = cause
	}
	if sr.HasSigningTime {
		res["signingDateTime"] = fmtTime(sr.SigningTime)
	}
	if sr.Certificate != nil {
		res["signerInfo"] = map[string]any{"ownerCertificateInfo": valueOf(certificateInfo(sr.Certificate))}
	}
	return res, valid, cause
}

func status(ok bool) string {
	if ok {
		return "SUCCESS"
	}
	return "FAILURE"
}

// verifyResult waits for the verification: 200 valid, 406 invalid, both
// with verifyResults.
func (s *Server) verifyResult(w http.ResponseWriter, r *http.Request, c caller) error {
	j, err := s.finishedJob(w, r, c, jobVerify, true, msgFailed)
	if err != nil || j == nil {
		return err
	}
	out, ok := j.result.(*verifyOutcome)
	if !ok {
		return errors.New("verification produced no result")
	}
	results := out.results
	if results == nil {
		results = []map[string]any{}
	}
	if out.valid {
		writeJSON(w, http.StatusOK, map[string]any{"message": s.lang.text(msgValid), "verifyResults": results})
		return nil
	}
	writeJSON(w, http.StatusNotAcceptable, map[string]any{"message": s.lang.text(msgInvalid), "failureCause": out.cause, "verifyResults": results})
	return nil
}
