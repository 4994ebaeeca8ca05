package cipher

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/cms"
)

// Job kind of encryption (the others are in ticket.go).
const jobEncrypt = "encryptor"

// maxRecipients bounds encryptor/certificates.
const maxRecipients = 64

// startTimestamp obtains a timestamp of the session's data from the
// configured TSA (GET ts/base64Data returns the token).
func (s *Server) startTimestamp(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
	if s.cfg.TSAURL == "" {
		return badParam("the agent has no timestamp authority configured")
	}
	t.mu.Lock()
	data := t.data
	t.mu.Unlock()
	if data == nil {
		return badParam("no data in this session: POST /ticket/{uuid}/data first")
	}
	return s.startJobAndReply(w, t, jobTS, func(ctx context.Context) (*blob, any, error) {
		tok, err := s.cfg.tsaClient().RequestDigest(ctx, data.sha256)
		if err != nil {
			return nil, nil, err
		}
		out, err := t.writeBytes("timestamp", tok)
		return out, nil, err
	})
}

// uploadTimestamp takes a timestamp token {"base64Data"} for the session:
// ds/modifier attaches it to the signature instead of asking the TSA.
func (s *Server) uploadTimestamp(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	b, err := s.readUpload(w, r, t, "timestamp-in", 1<<20)
	if err != nil {
		return err
	}
	tok, err := readBlob(b, 1<<20)
	removeQuietly(b.path)
	if err != nil {
		return err
	}
	if _, _, err := cms.ParseTimestampToken(tok); err != nil {
		return badParam("ts/data: not an RFC 3161 timestamp token: %v", err)
	}
	t.mu.Lock()
	t.tsToken = tok
	t.mu.Unlock()
	s.ok(w, msgOK)
	return nil
}

// timestampResult returns the token of ts/creator.
func (s *Server) timestampResult(w http.ResponseWriter, r *http.Request, c caller) error {
	return s.result(w, r, c, jobTS, msgFailed, true)
}

// startModify augments the session's signature (ds/data): a detached
// signature becomes attached (signatureType attached) with the session's
// data as its content, and, unless cadesType is CAdESBES, each signer
// without a signature timestamp gets one (the uploaded ts/data token, else
// the TSA's), which makes CAdES-BES a CAdES-T.
func (s *Server) startModify(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
	t.mu.Lock()
	sig, data, opts, tok := t.sig, t.data, t.opts, t.tsToken
	t.mu.Unlock()
	if sig == nil {
		return badParam("no signature in this session: POST /ticket/{uuid}/ds/data first")
	}
	stamp := opts.Cades != cadesBES
	if !stamp && opts.Detached {
		return badParam("ds/modifier with cadesType=CAdESBES and signatureType=detached has nothing to add; set cadesType=CAdEST or signatureType=attached")
	}
	if stamp && tok == nil && s.cfg.TSAURL == "" {
		return badParam("ds/modifier adds a signature timestamp, but the agent has no timestamp authority configured and no ts/data was uploaded")
	}
	return s.startJobAndReply(w, t, jobModify, func(ctx context.Context) (*blob, any, error) {
		der, err := readBlob(sig, s.cfg.Limits.MaxSignature)
		if err != nil {
			return nil, nil, err
		}
		sd, err := cms.ParseSignedData(der)
		if err != nil {
			return nil, nil, badParam("ds/data is not a CMS signature: %v", err)
		}
		if !sd.HasContent && !opts.Detached {
			if der, err = s.attachData(der, data); err != nil {
				return nil, nil, err
			}
		}
		for i, si := range sd.Signers {
			if !stamp {
				break
			}
			if _, has := si.TimestampToken(); has {
				continue
			}
			if tok != nil && len(sd.Signers) == 1 {
				der, err = cms.AttachTimestamp(der, i, tok)
			} else {
				der, err = s.timestamp(ctx, der, i)
			}
			if err != nil {
				return nil, nil, err
			}
		}
		out, err := t.writeBytes("modified", der)
		return out, nil, err
	})
}

// attachData makes a detached signature attached with the session's data,
// which must be what it signs (read into memory: at most max_signature).
func (s *Server) attachData(der []byte, data *blob) ([]byte, error) {
	if data == nil {
		return nil, badParam("signatureType=attached: POST /ticket/{uuid}/data with the signed data first, so that ds/modifier can attach it")
	}
	content, err := readBlob(data, s.cfg.Limits.MaxSignature)
	if err != nil {
		return nil, err
	}
	out, err := cms.AttachContent(der, content)
	if errors.Is(err, cms.ErrContentMismatch) {
		return nil, badParam("the session's data is not what ds/data signs: %v", err)
	}
	return out, err
}

// startDecrypt decrypts the session's data (an EnvelopedData) with the key
// of the key store that it is addressed to; the host asks the person.
func (s *Server) startDecrypt(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	req, err := s.readCreator(w, r)
	if err != nil {
		return err
	}
	if err := s.passPassword(r.Context(), t, c, req.KeyStorePassword); err != nil {
		return err
	}
	t.mu.Lock()
	data, keyStore, meta, container := t.data, t.keyStore, t.metaData, t.container
	t.mu.Unlock()
	if data == nil {
		return badParam("no data in this session: POST /ticket/{uuid}/data with the encrypted message first")
	}
	return s.startJobAndReply(w, t, jobDecrypt, func(ctx context.Context) (*blob, any, error) {
		der, err := readBlob(data, s.cfg.Limits.MaxSignature)
		if err != nil {
			return nil, nil, err
		}
		recips, err := cms.EnvelopeRecipients(der)
		if err != nil {
			return nil, nil, badParam("the data is not an encrypted CMS message: %v", err)
		}
		op := c.op("Decrypt a document (Cipher API)")
		op.SummaryHTML = meta
		op.Documents = []sdk.Document{{Name: "encrypted data", Size: data.size, SHA256: data.sha256}}
		keys, err := s.cfg.Keys.Keys(ctx, op)
		if err != nil && len(keys) == 0 {
			return nil, nil, err
		}
		if err := s.openContainer(ctx, keys, keyStore, container, op); err != nil {
			return nil, nil, err
		}
		for _, k := range keys {
			if !k.HasPrivateKey || !k.CanDecrypt || k.Certificate == nil || !keyStoreMatches(keyStore, k) {
				continue
			}
			for _, rc := range recips {
				if !rc.Matches(k.Certificate) {
					continue
				}
				plain, err := cms.Decrypt(der, k.Certificate, hostDecrypter{ctx: ctx, ks: s.cfg.Keys, key: k, op: op, cert: k.Certificate})
				if err != nil {
					return nil, nil, err
				}
				out, err := t.writeBytes("decrypted", plain)
				return out, nil, err
			}
		}
		return nil, nil, badParam("the message is addressed to no key of the key store")
	})
}

// setRecipients takes {"recipientCertificates": [base64 DER, …]}.
func (s *Server) setRecipients(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	var req struct {
		RecipientCertificates []string `json:"recipientCertificates"`
	}
	if err := s.readJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.RecipientCertificates) == 0 || len(req.RecipientCertificates) > maxRecipients {
		return badParam("recipientCertificates: want 1 to %d base64 certificates", maxRecipients)
	}
	certs := make([]*x509.Certificate, 0, len(req.RecipientCertificates))
	for i, b64 := range req.RecipientCertificates {
		der, err := decodeBase64(b64)
		if err != nil {
			return badParam("recipientCertificates[%d]: %v", i, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return badParam("recipientCertificates[%d]: not a certificate: %v", i, err)
		}
		certs = append(certs, cert)
	}
	t.mu.Lock()
	t.recipients = certs
	t.mu.Unlock()
	s.ok(w, msgOK)
	return nil
}

// encrypt encrypts the session's data to its recipients (AES-256-CBC;
// GET encryptor/base64Data or encryptor/data returns the EnvelopedData).
func (s *Server) encrypt(w http.ResponseWriter, r *http.Request, c caller) error {
	t, err := s.ticket(r, c)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 64<<10))
	t.mu.Lock()
	data, recips := t.data, t.recipients
	t.mu.Unlock()
	if data == nil || len(recips) == 0 {
		return badParam("encryption needs data (POST data) and recipients (POST encryptor/certificates)")
	}
	return s.startJobAndReply(w, t, jobEncrypt, func(ctx context.Context) (*blob, any, error) {
		plain, err := readBlob(data, s.cfg.Limits.MaxSignature)
		if err != nil {
			return nil, nil, err
		}
		env, err := cms.Encrypt(plain, recips, cms.EncryptOptions{})
		if err != nil {
			return nil, nil, err
		}
		out, err := t.writeBytes("encrypted", env)
		return out, nil, err
	})
}

func (s *Server) encryptResult(b64 bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, c caller) error {
		return s.result(w, r, c, jobEncrypt, msgFailed, b64)
	}
}
