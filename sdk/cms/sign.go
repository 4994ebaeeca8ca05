package cms

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"slices"
	"time"

	"github.com/signet-agent/signet/sdk/certs"
	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Attribute is a CMS attribute for SignOptions: a type and the complete
// DER encoding of each value.
type Attribute struct {
	Type   asn1.ObjectIdentifier
	Values [][]byte
}

// NewAttribute builds an Attribute, marshalling each value with
// encoding/asn1 (pass an asn1.RawValue to supply DER directly).
func NewAttribute(typ asn1.ObjectIdentifier, values ...any) (Attribute, error) {
	a := Attribute{Type: typ}
	for _, v := range values {
		der, err := asn1.Marshal(v)
		if err != nil {
			return Attribute{}, fmt.Errorf("marshal attribute %v value: %w", typ, err)
		}
		a.Values = append(a.Values, der)
	}
	return a, nil
}

// SignOptions are the per-call choices for signing. The zero value (or
// nil) means: SHA-256, the registry's default algorithm for the key type
// (RSA PKCS#1 v1.5 for RSA keys), attached content of type id-data,
// signingTime = now, ESS signingCertificateV2 present.
type SignOptions struct {
	// Digest is the message digest. 0 means SHA-256 (SHA-512 for Ed25519).
	// SHA-1 is used only when set here explicitly.
	Digest crypto.Hash
	// DigestOID selects a registry digest that has no crypto.Hash (GOST,
	// O'zDSt); it overrides Digest.
	DigestOID asn1.ObjectIdentifier
	// Algorithm names a registry signature entry ("RSA-PSS" for PSS);
	// empty picks the default for the key type.
	Algorithm string
	// Registry is the algorithm table; nil means the built-in one.
	Registry *Registry

	// Detached leaves the content out of the message (Sign only).
	Detached bool
	// ContentType is the eContentType; nil means id-data.
	ContentType asn1.ObjectIdentifier

	// Chain holds further certificates to include (intermediates, root).
	Chain []*x509.Certificate
	// NoCertificate leaves the signer certificate out of the message.
	NoCertificate bool

	// SigningTime is the signingTime attribute; zero means time.Now().
	SigningTime time.Time
	// NoSigningTime omits the signingTime attribute.
	NoSigningTime bool
	// NoSigningCertificate omits the ESS signingCertificateV2 attribute.
	NoSigningCertificate bool
	// SignedAttributes and UnsignedAttributes are added after the standard
	// ones. A signed attribute may not repeat contentType, messageDigest,
	// signingTime or signingCertificateV2.
	SignedAttributes   []Attribute
	UnsignedAttributes []Attribute

	// Rand is passed to the signer; nil means crypto/rand.Reader.
	Rand io.Reader
}

// signPlan is the resolved algorithm choice for one signer.
type signPlan struct {
	opts   SignOptions
	reg    *Registry
	digest *DigestAlgorithm
	sigAlg *SignatureAlgorithm
	cert   *x509.Certificate
	signer crypto.Signer
	h      hash.Hash // reused for content, certificate and attribute hashes
}

// hasher returns the plan's hash, reset. Calls are sequential within one
// signing operation.
func (p *signPlan) hasher() hash.Hash {
	if p.h == nil {
		p.h = p.digest.newHash()
	} else {
		p.h.Reset()
	}
	return p.h
}

func newSignPlan(signer crypto.Signer, cert *x509.Certificate, o *SignOptions) (*signPlan, error) {
	if signer == nil || cert == nil {
		return nil, errors.New("cms: sign: signer and certificate are required")
	}
	p := &signPlan{cert: cert, signer: signer}
	if o != nil {
		p.opts = *o
	}
	p.reg = registryOr(p.opts.Registry)
	pub := signer.Public()
	var err error
	if p.opts.Algorithm != "" {
		p.sigAlg, err = p.reg.SignatureByName(p.opts.Algorithm)
	} else {
		p.sigAlg, err = p.reg.signatureForKey(pub)
	}
	if err != nil {
		return nil, fmt.Errorf("cms: sign: %w", err)
	}
	switch {
	case p.opts.DigestOID != nil:
		p.digest, err = p.reg.DigestByOID(p.opts.DigestOID)
	case p.opts.Digest != 0:
		p.digest, err = p.reg.DigestByHash(p.opts.Digest)
	case p.sigAlg.DefaultDigestOID != nil:
		p.digest, err = p.reg.DigestByOID(p.sigAlg.DefaultDigestOID)
	case p.sigAlg.DefaultDigest != 0:
		p.digest, err = p.reg.DigestByHash(p.sigAlg.DefaultDigest)
	default:
		p.digest, err = p.reg.DigestByHash(crypto.SHA256)
	}
	if err != nil {
		return nil, fmt.Errorf("cms: sign: %w", err)
	}
	if !p.sigAlg.Supports(pub, p.digest) {
		return nil, fmt.Errorf("cms: sign: %w: %s with %s for a %T key", ErrUnsupportedAlgorithm, p.sigAlg.Name, p.digest.Name, pub)
	}
	if !certs.SamePublicKey(pub, certPublicKey(cert)) {
		return nil, errors.New("cms: sign: the certificate does not match the signer's public key")
	}
	if p.opts.ContentType == nil {
		p.opts.ContentType = OIDData
	}
	if p.opts.Rand == nil {
		p.opts.Rand = rand.Reader
	}
	if p.opts.SigningTime.IsZero() {
		p.opts.SigningTime = time.Now()
	}
	for _, a := range p.opts.SignedAttributes {
		for _, std := range []asn1.ObjectIdentifier{OIDAttributeContentType, OIDAttributeMessageDigest, OIDAttributeSigningTime, OIDAttributeSigningCertificateV2} {
			if a.Type.Equal(std) {
				return nil, fmt.Errorf("cms: sign: signed attribute %v is set by the package", a.Type)
			}
		}
	}
	return p, nil
}

// certificates returns the DER certificates to include, signer first,
// without duplicates.
func (p *signPlan) certificates() [][]byte {
	var out [][]byte
	add := func(c *x509.Certificate) {
		for _, o := range out {
			if bytes.Equal(o, c.Raw) {
				return
			}
		}
		out = append(out, c.Raw)
	}
	if !p.opts.NoCertificate {
		add(p.cert)
	}
	for _, c := range p.opts.Chain {
		if c != nil {
			add(c)
		}
	}
	return out
}

// marshalAttribute encodes one Attribute with its values sorted (DER SET OF).
func marshalAttribute(a Attribute) ([]byte, error) {
	return appendAttribute(nil, a.Type, a.Values...)
}

// appendAttribute appends the DER Attribute (values sorted) to dst.
func appendAttribute(dst []byte, typ asn1.ObjectIdentifier, values ...[]byte) ([]byte, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("cms: attribute %v has no values", typ)
	}
	if len(values) > 1 {
		values = slices.Clone(values)
		slices.SortFunc(values, bytes.Compare)
	}
	b := cryptobyte.NewBuilder(dst)
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(typ)
		b.AddASN1(casn1.SET, func(b *cryptobyte.Builder) {
			for _, v := range values {
				b.AddBytes(v)
			}
		})
	})
	return b.Bytes()
}

// attrSet collects encoded attributes in one buffer and writes them as a
// DER SET OF (sorted).
type attrSet struct {
	buf   []byte
	spans [][]byte
}

func (s *attrSet) add(typ asn1.ObjectIdentifier, values ...[]byte) error {
	start := len(s.buf)
	out, err := appendAttribute(s.buf, typ, values...)
	if err != nil {
		return err
	}
	s.buf = out
	s.spans = append(s.spans, out[start:])
	return nil
}

func (s *attrSet) encode(tag casn1.Tag) ([]byte, error) {
	slices.SortFunc(s.spans, bytes.Compare)
	n := 8
	for _, e := range s.spans {
		n += len(e)
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, n))
	b.AddASN1(tag, func(b *cryptobyte.Builder) {
		for _, e := range s.spans {
			b.AddBytes(e)
		}
	})
	return b.Bytes()
}

// marshalAttributes encodes SET OF Attribute (sorted, DER) under tag.
func marshalAttributes(attrs []Attribute, tag casn1.Tag) ([]byte, error) {
	var s attrSet
	for _, a := range attrs {
		if err := s.add(a.Type, a.Values...); err != nil {
			return nil, err
		}
	}
	return s.encode(tag)
}

// ess writes SigningCertificateV2 (RFC 5035) for cert under dig: the
// ESSCertIDv2 hash algorithm is omitted for SHA-256 (its DEFAULT),
// issuerSerial is included.
func (d *derBuf) ess(cert *x509.Certificate, dig *DigestAlgorithm, h hash.Hash) {
	h.Reset()
	h.Write(cert.Raw)
	var sum [64]byte
	certHash := h.Sum(sum[:0])
	d.open(0x30) // SigningCertificateV2
	d.open(0x30) // certs
	d.open(0x30) // ESSCertIDv2
	if !dig.OID.Equal(OIDDigestSHA256) {
		d.algorithm(dig.identifier())
	}
	d.octets(certHash)
	d.open(0x30) // IssuerSerial
	d.open(0x30) // GeneralNames
	d.open(0xa4) // [4] directoryName
	d.raw(cert.RawIssuer)
	d.close()
	d.close()
	d.bigInt(cert.SerialNumber)
	d.close()
	d.close()
	d.close()
	d.close()
}

// signerInfo builds and signs one SignerInfo for a content digest.
func (p *signPlan) signerInfo(contentDigest []byte) ([]byte, error) {
	// Standard attributes, each encoded into one buffer, then sorted.
	var spans [8][]byte
	list := spans[:0]
	d := derBuf{b: make([]byte, 0, 256+len(p.cert.RawIssuer))}
	mark := func(start int) { list = append(list, d.b[start:len(d.b):len(d.b)]) }

	start := len(d.b)
	d.open(0x30)
	d.raw(derAttributeContentType)
	d.open(0x31)
	d.oid(p.opts.ContentType)
	d.close()
	d.close()
	mark(start)

	start = len(d.b)
	d.open(0x30)
	d.raw(derAttributeMessageDigest)
	d.open(0x31)
	d.octets(contentDigest)
	d.close()
	d.close()
	mark(start)

	if !p.opts.NoSigningTime {
		start = len(d.b)
		d.open(0x30)
		d.raw(derAttributeSigningTime)
		d.open(0x31)
		d.signingTime(p.opts.SigningTime)
		d.close()
		d.close()
		mark(start)
	}
	if !p.opts.NoSigningCertificate {
		start = len(d.b)
		d.open(0x30)
		d.raw(derAttributeSigningCertificateV2)
		d.open(0x31)
		d.ess(p.cert, p.digest, p.hasher())
		d.close()
		d.close()
		mark(start)
	}
	// The spans may point into an older backing array if d.b grew; they
	// stay valid because nothing writes to those bytes again.
	for _, a := range p.opts.SignedAttributes {
		enc, err := marshalAttribute(a)
		if err != nil {
			return nil, fmt.Errorf("cms: signed attributes: %w", err)
		}
		list = append(list, enc)
	}
	slices.SortFunc(list, bytes.Compare)

	// The signature covers the attributes with the universal SET tag
	// (RFC 5652 §5.4); the SignerInfo carries them as [0] IMPLICIT.
	n := 0
	for _, e := range list {
		n += len(e)
	}
	set := derBuf{b: make([]byte, 0, n+8)}
	set.open(0x31)
	for _, e := range list {
		set.raw(e)
	}
	set.close()
	signedSet := set.b

	h := p.hasher()
	h.Write(signedSet)
	var sum [64]byte
	attrDigest := h.Sum(sum[:0])
	sig, err := p.sigAlg.Sign(p.opts.Rand, p.signer, p.digest, signedSet, attrDigest)
	if err != nil {
		return nil, fmt.Errorf("cms: sign: %w", err)
	}
	sigAlgID, err := p.sigAlg.Identifier(p.digest)
	if err != nil {
		return nil, err
	}
	var unsigned []byte
	if len(p.opts.UnsignedAttributes) > 0 {
		unsigned, err = marshalAttributes(p.opts.UnsignedAttributes, casn1.Tag(1).Constructed().ContextSpecific())
		if err != nil {
			return nil, err
		}
	}
	out := derBuf{b: make([]byte, 0, len(signedSet)+len(sig)+len(p.cert.RawIssuer)+len(unsigned)+160)}
	out.open(0x30)
	out.smallInt(1)
	out.open(0x30)
	out.raw(p.cert.RawIssuer)
	out.bigInt(p.cert.SerialNumber)
	out.close()
	out.algorithm(p.digest.identifier())
	out.raw([]byte{0xa0})
	out.b = append(out.b, signedSet[1:]...) // same length, tag [0] IMPLICIT
	out.algorithm(sigAlgID)
	out.octets(sig)
	out.raw(unsigned)
	out.close()
	return out.b, nil
}

// encodeSignedData assembles a DER ContentInfo(SignedData).
// content nil means detached. digestAlgs, certs and signerInfos are DER
// elements written in the given order. Lengths are computed first, so the
// content is copied exactly once.
func encodeSignedData(version int64, digestAlgs [][]byte, contentType asn1.ObjectIdentifier, content []byte, certs, crls, signerInfos [][]byte) ([]byte, error) {
	if version < 0 || version > 127 {
		return nil, fmt.Errorf("cms: SignedData version %d", version)
	}
	tlv := func(n int) int { return 1 + lengthLen(n) + n }
	sum := func(set [][]byte) int {
		n := 0
		for _, e := range set {
			n += len(e)
		}
		return n
	}
	var ob [64]byte
	oids := derBuf{b: append(ob[:0], derSignedData...)}
	sdOID := len(oids.b)
	oids.oid(contentType)
	ctOID := oids.b[sdOID:]

	encapLen := len(ctOID)
	if content != nil {
		encapLen += tlv(tlv(len(content)))
	}
	daLen, certLen, crlLen, siLen := sum(digestAlgs), sum(certs), sum(crls), sum(signerInfos)
	sdLen := 3 + tlv(daLen) + tlv(encapLen) + tlv(siLen)
	if len(certs) > 0 {
		sdLen += tlv(certLen)
	}
	if len(crls) > 0 {
		sdLen += tlv(crlLen)
	}
	ciLen := sdOID + tlv(tlv(sdLen))

	out := make([]byte, 0, tlv(ciLen))
	hdr := func(tag byte, n int) { out = appendLength(append(out, tag), n) }
	hdr(0x30, ciLen)
	out = append(out, oids.b[:sdOID]...)
	hdr(0xa0, tlv(sdLen))
	hdr(0x30, sdLen)
	out = append(out, 0x02, 0x01, byte(version))
	hdr(0x31, daLen)
	for _, a := range digestAlgs {
		out = append(out, a...)
	}
	hdr(0x30, encapLen)
	out = append(out, ctOID...)
	if content != nil {
		hdr(0xa0, tlv(len(content)))
		hdr(0x04, len(content))
		out = append(out, content...)
	}
	if len(certs) > 0 {
		hdr(0xa0, certLen)
		for _, c := range certs {
			out = append(out, c...)
		}
	}
	if len(crls) > 0 {
		hdr(0xa1, crlLen)
		for _, c := range crls {
			out = append(out, c...)
		}
	}
	hdr(0x31, siLen)
	for _, si := range signerInfos {
		out = append(out, si...)
	}
	return out, nil
}

// signedDataVersion is the SignedData version for our own output
// (RFC 5652 §5.1): 1 for id-data with issuerAndSerialNumber signers,
// otherwise 3.
func signedDataVersion(ct asn1.ObjectIdentifier) int64 {
	if ct.Equal(OIDData) {
		return 1
	}
	return 3
}

func (p *signPlan) digestAlgDER() ([]byte, error) {
	var d derBuf
	d.algorithm(p.digest.identifier())
	return d.b, nil
}

// Sign signs content with signer, whose certificate is cert, and returns
// a DER ContentInfo(SignedData). The content is embedded unless
// opts.Detached is set.
func Sign(content []byte, signer crypto.Signer, cert *x509.Certificate, opts *SignOptions) ([]byte, error) {
	p, err := newSignPlan(signer, cert, opts)
	if err != nil {
		return nil, err
	}
	h := p.hasher()
	h.Write(content)
	enc := content
	if p.opts.Detached {
		enc = nil
	} else if enc == nil {
		enc = []byte{}
	}
	return p.finish(h.Sum(nil), enc)
}

// SignDetached reads the content from r to the end, hashing as it reads
// (memory use does not depend on the content size), and returns a detached
// DER ContentInfo(SignedData).
func SignDetached(r io.Reader, signer crypto.Signer, cert *x509.Certificate, opts *SignOptions) ([]byte, error) {
	p, err := newSignPlan(signer, cert, opts)
	if err != nil {
		return nil, err
	}
	h := p.hasher()
	if _, err := io.Copy(h, r); err != nil {
		return nil, fmt.Errorf("cms: sign: read content: %w", err)
	}
	return p.finish(h.Sum(nil), nil)
}

// SignDigest returns a detached DER ContentInfo(SignedData) for content
// whose digest the caller has already computed with the digest that opts
// selects (SHA-256 by default).
func SignDigest(digest []byte, signer crypto.Signer, cert *x509.Certificate, opts *SignOptions) ([]byte, error) {
	p, err := newSignPlan(signer, cert, opts)
	if err != nil {
		return nil, err
	}
	if len(digest) != p.digest.newHash().Size() {
		return nil, fmt.Errorf("cms: sign: digest is %d bytes, %s needs %d", len(digest), p.digest.Name, p.digest.newHash().Size())
	}
	return p.finish(digest, nil)
}

func (p *signPlan) finish(contentDigest, content []byte) ([]byte, error) {
	si, err := p.signerInfo(contentDigest)
	if err != nil {
		return nil, err
	}
	da, err := p.digestAlgDER()
	if err != nil {
		return nil, err
	}
	out, err := encodeSignedData(signedDataVersion(p.opts.ContentType), [][]byte{da}, p.opts.ContentType, content, p.certificates(), nil, [][]byte{si})
	if err != nil {
		return nil, fmt.Errorf("cms: encode SignedData: %w", err)
	}
	return out, nil
}

// streamChunk is the OCTET STRING chunk size used by SignAttachedStream
// when the content size is unknown (BouncyCastle uses 1000; larger chunks
// cost less overhead).
const streamChunk = 64 << 10

// SignAttachedStream writes an attached ContentInfo(SignedData) to w,
// reading the content from r and hashing it as it is copied, so the content
// is never held in memory. The output is BER (as BouncyCastle's streaming
// generator writes it): indefinite-length outer wrappers; the content is one
// definite-length OCTET STRING when size >= 0 (r must then yield exactly
// size bytes), or a constructed OCTET STRING of chunks when size < 0.
// OpenSSL and this package's parser accept it.
func SignAttachedStream(w io.Writer, r io.Reader, size int64, signer crypto.Signer, cert *x509.Certificate, opts *SignOptions) error {
	p, err := newSignPlan(signer, cert, opts)
	if err != nil {
		return err
	}
	if p.opts.Detached {
		return errors.New("cms: SignAttachedStream with Detached set")
	}
	da, err := p.digestAlgDER()
	if err != nil {
		return err
	}
	ctDER, err := asn1.Marshal(p.opts.ContentType)
	if err != nil {
		return err
	}
	var hdr []byte
	hdr = append(hdr, 0x30, 0x80) // ContentInfo
	sdOID, _ := asn1.Marshal(OIDSignedData)
	hdr = append(hdr, sdOID...)
	hdr = append(hdr, 0xa0, 0x80, 0x30, 0x80) // [0] SignedData
	hdr = append(hdr, 0x02, 0x01, byte(signedDataVersion(p.opts.ContentType)))
	hdr = append(hdr, 0x31)
	hdr = appendLength(hdr, len(da))
	hdr = append(hdr, da...)
	hdr = append(hdr, 0x30, 0x80) // encapContentInfo
	hdr = append(hdr, ctDER...)
	hdr = append(hdr, 0xa0, 0x80) // [0] eContent
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("cms: write: %w", err)
	}
	h := p.digest.newHash()
	if size >= 0 {
		if size > 1<<40 {
			return errors.New("cms: content size too large")
		}
		oh := []byte{0x04}
		oh = appendLength(oh, int(size))
		if _, err := w.Write(oh); err != nil {
			return fmt.Errorf("cms: write: %w", err)
		}
		n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, size))
		if err != nil {
			return fmt.Errorf("cms: sign: copy content: %w", err)
		}
		if n != size {
			return fmt.Errorf("cms: sign: content is %d bytes, %d announced", n, size)
		}
		var one [1]byte
		if m, _ := r.Read(one[:]); m != 0 {
			return fmt.Errorf("cms: sign: content is longer than the %d bytes announced", size)
		}
	} else {
		if _, err := w.Write([]byte{0x24, 0x80}); err != nil {
			return fmt.Errorf("cms: write: %w", err)
		}
		buf := make([]byte, streamChunk)
		for {
			n, rerr := io.ReadFull(r, buf)
			if n > 0 {
				h.Write(buf[:n])
				ch := appendLength([]byte{0x04}, n)
				if _, err := w.Write(ch); err != nil {
					return fmt.Errorf("cms: write: %w", err)
				}
				if _, err := w.Write(buf[:n]); err != nil {
					return fmt.Errorf("cms: write: %w", err)
				}
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				break
			}
			if rerr != nil {
				return fmt.Errorf("cms: sign: read content: %w", rerr)
			}
		}
		if _, err := w.Write([]byte{0, 0}); err != nil {
			return fmt.Errorf("cms: write: %w", err)
		}
	}
	si, err := p.signerInfo(h.Sum(nil))
	if err != nil {
		return err
	}
	var tail []byte
	tail = append(tail, 0, 0, 0, 0) // end [0] eContent, end encapContentInfo
	if certs := p.certificates(); len(certs) > 0 {
		var all []byte
		for _, c := range certs {
			all = append(all, c...)
		}
		tail = append(tail, 0xa0)
		tail = appendLength(tail, len(all))
		tail = append(tail, all...)
	}
	tail = append(tail, 0x31)
	tail = appendLength(tail, len(si))
	tail = append(tail, si...)
	tail = append(tail, 0, 0, 0, 0, 0, 0) // end SignedData, [0], ContentInfo
	if _, err := w.Write(tail); err != nil {
		return fmt.Errorf("cms: write: %w", err)
	}
	return nil
}

// bigIntHex is the lowercase hex of a serial number as E-IMZO reports it
// (signer_serial_number).
func bigIntHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	return n.Text(16)
}
