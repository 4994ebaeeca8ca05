package cipher

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/cms"
)

// creatorRequest is the body of POST ds/creator (and decryptor). A
// keyStorePassword goes to the host only for the ticket's uploaded
// container, which uses it only when policy lets the origin pass
// passwords; it is never kept or logged (README "Passwords").
type creatorRequest struct {
	AccessTokenUUID  string  `json:"accessTokenUuid"`
	KeyStorePassword *string `json:"keyStorePassword"`
}

// readCreator reads an optional JSON body (clients send none, text/plain).
func (s *Server) readCreator(w http.ResponseWriter, r *http.Request) (creatorRequest, error) {
	var req creatorRequest
	if mediaType(r) != "application/json" {
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
		return req, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		return req, badParam("reading the body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, badParam("the body is not the JSON object expected ({\"accessTokenUuid\"} or {\"keyStorePassword\"})")
	}
	return req, nil
}

// signJob is what one signature needs, captured when it starts.
type signJob struct {
	data     *blob
	existing *blob // the signature to co-sign (alreadySigned)
	opts     options
	keyStore string
	metaData string
	grant    *accessGrant
}

// startSign starts creating the signature asynchronously; GET ds/creator
// reports, GET ds/base64Data and ds/data wait for it.
func (s *Server) startSign(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	req, err := s.readCreator(w, r)
	if err != nil {
		return err
	}
	t.mu.Lock()
	sj := signJob{data: t.data, existing: t.sig, opts: t.opts, keyStore: t.keyStore, metaData: t.metaData}
	t.mu.Unlock()
	if sj.data == nil {
		return badParam("no data in this session: POST /ticket/{uuid}/data first")
	}
	if sj.opts.signatureTS() || sj.opts.contentTS() {
		if s.cfg.TSAURL == "" {
			return badParam("a timestamp is asked for (cadesType CAdEST, embedSignatureTs or embedDataTs) but the agent has no timestamp authority configured")
		}
	}
	if req.AccessTokenUUID != "" {
		if sj.grant, err = s.tokens.use(req.AccessTokenUUID, c.origin); err != nil {
			return err
		}
	} else if err := s.passPassword(r.Context(), t, c, req.KeyStorePassword); err != nil {
		return err
	}
	return s.startJobAndReply(w, t, jobSign, func(ctx context.Context) (*blob, any, error) {
		out, err := s.sign(ctx, t, c, sj)
		return out, nil, err
	})
}

func (s *Server) startJobAndReply(w http.ResponseWriter, t *ticket, kind string, run func(ctx context.Context) (*blob, any, error)) error {
	if err := s.startJob(t, kind, run); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reply{Message: s.lang.text(msgRunning)})
	return nil
}

// errDuplicate refuses a second signature of the same signer.
var errDuplicate = errors.New("the signer has already signed this data (set duplicateSign=true to sign again)")

// sign creates the signature of one ticket: the key from the access token
// or the person's choice, then the CMS the options describe.
func (s *Server) sign(ctx context.Context, t *ticket, c caller, sj signJob) (*blob, error) {
	op := c.op("Sign a document (Cipher API)")
	op.SummaryHTML = sj.metaData
	op.Documents = []sdk.Document{{Name: "data", Size: sj.data.size, SHA256: sj.data.sha256, ContentType: "application/octet-stream"}}
	op.Evidence = map[string]string{"ticket": t.id}
	var key sdk.Key
	var err error
	if sj.grant != nil {
		key = sj.grant.key
		op.GrantID = sj.grant.hostGrant
	} else if key, op, err = s.chooseKey(ctx, sj.keyStore, op); err != nil {
		return nil, err
	}
	if key.Certificate == nil {
		return nil, fmt.Errorf("the key has no certificate: %w", sdk.ErrKeyNotFound)
	}
	signer := s.cfg.Keys.Signer(ctx, key, op)
	so := &cms.SignOptions{}
	switch sj.opts.EmbedCert {
	case embedNothing:
		so.NoCertificate = true
	case embedSignerAndCA:
		so.Chain = key.Chain
	}
	if sj.opts.contentTS() {
		tok, err := s.cfg.tsaClient().RequestDigest(ctx, sj.data.sha256)
		if err != nil {
			return nil, fmt.Errorf("content timestamp: %w", err)
		}
		attr, err := cms.NewAttribute(oidContentTimestamp, asn1.RawValue{FullBytes: tok})
		if err != nil {
			return nil, err
		}
		so.SignedAttributes = append(so.SignedAttributes, attr)
	}

	var sig []byte
	signerIndex := 0
	switch {
	case sj.opts.AlreadySigned:
		sig, signerIndex, err = coSign(sj, signer, key.Certificate, so)
	case sj.opts.Detached && key.Algorithm == sdk.AlgorithmEd25519:
		// Ed25519 signs with SHA-512 (RFC 8419): hash the file again.
		sig, err = signDetachedFile(sj.data, signer, key.Certificate, so)
	case sj.opts.Detached:
		sig, err = cms.SignDigest(sj.data.sha256, signer, key.Certificate, so)
	default:
		if sj.opts.signatureTS() {
			// A timestamp rewrites the message: sign into memory
			// (bounded by MaxSignature), then timestamp.
			var content []byte
			if content, err = readBlob(sj.data, s.cfg.Limits.MaxSignature); err != nil {
				return nil, err
			}
			sig, err = cms.Sign(content, signer, key.Certificate, so)
		} else {
			return s.signAttachedStream(t, sj.data, signer, key.Certificate, so)
		}
	}
	if err != nil {
		return nil, err
	}
	if sj.opts.signatureTS() {
		if sig, err = s.timestamp(ctx, sig, signerIndex); err != nil {
			return nil, err
		}
	}
	return t.writeBytes("signature-out", sig)
}

// oidContentTimestamp is id-aa-ets-contentTimestamp (RFC 5126).
var oidContentTimestamp = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 20}

// timestamp adds the TSA's signature timestamp to signer index i.
func (s *Server) timestamp(ctx context.Context, sig []byte, i int) ([]byte, error) {
	out, err := s.cfg.tsaClient().Timestamp(ctx, sig, i)
	if err != nil {
		return nil, fmt.Errorf("signature timestamp: %w", err)
	}
	return out, nil
}

// signAttachedStream writes an attached signature of a document of any
// size, reading it from its file as it goes (BER, as Java's streaming
// generator writes it).
func (s *Server) signAttachedStream(t *ticket, data *blob, signer crypto.Signer, cert *x509.Certificate, so *cms.SignOptions) (*blob, error) {
	in, err := os.Open(data.path)
	if err != nil {
		return nil, fmt.Errorf("the session's data is gone: %w", err)
	}
	defer in.Close()
	path := t.newFile("signature-out")
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating the session's file: %w", err)
	}
	cw := &countingWriter{w: bufio.NewWriterSize(out, copyBufSize)}
	err = cms.SignAttachedStream(cw, bufio.NewReaderSize(in, copyBufSize), data.size, signer, cert, so)
	if err == nil {
		err = cw.w.(*bufio.Writer).Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		removeQuietly(path)
		return nil, err
	}
	return &blob{path: path, size: cw.n}, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// coSign adds the key's signature to the session's signature: the uploaded
// ds/data (with the data as its detached content) or, without one, the data
// itself (an attached signature).
func coSign(sj signJob, signer crypto.Signer, cert *x509.Certificate, so *cms.SignOptions) ([]byte, int, error) {
	existing := sj.existing
	var content *blob
	if existing == nil {
		existing = sj.data
	} else {
		content = sj.data
	}
	der, err := readBlob(existing, maxCoSignInput)
	if err != nil {
		return nil, 0, err
	}
	sd, err := cms.ParseSignedData(der)
	if err != nil {
		return nil, 0, badParam("dataToSignQualifier=alreadySigned: the session's data is not a CMS signature: %v", err)
	}
	if !sj.opts.DuplicateSign {
		for _, si := range sd.Signers {
			if si.Certificate != nil && si.Certificate.Equal(cert) || (si.SerialNumber != nil && si.SerialNumber.Cmp(cert.SerialNumber) == 0 && bytes.Equal(si.IssuerRaw, cert.RawIssuer)) {
				return nil, 0, badParam("%v", errDuplicate)
			}
		}
	}
	var out []byte
	switch {
	case sd.HasContent:
		out, err = cms.CoSign(der, nil, signer, cert, so)
	case content != nil:
		var f *os.File
		if f, err = os.Open(content.path); err != nil {
			return nil, 0, fmt.Errorf("the session's data is gone: %w", err)
		}
		defer f.Close()
		out, err = cms.CoSign(der, bufio.NewReaderSize(f, copyBufSize), signer, cert, so)
	default:
		return nil, 0, badParam("dataToSignQualifier=alreadySigned: the signature is detached; upload it with POST ds/data and its content with POST data")
	}
	return out, len(sd.Signers), err
}

// maxCoSignInput bounds a signature read for co-signing.
const maxCoSignInput = 256 << 20

// signDetachedFile signs the data file, hashing it as it is read.
func signDetachedFile(data *blob, signer crypto.Signer, cert *x509.Certificate, so *cms.SignOptions) ([]byte, error) {
	f, err := os.Open(data.path)
	if err != nil {
		return nil, fmt.Errorf("the session's data is gone: %w", err)
	}
	defer f.Close()
	return cms.SignDetached(bufio.NewReaderSize(f, copyBufSize), signer, cert, so)
}
