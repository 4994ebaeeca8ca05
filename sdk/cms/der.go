package cms

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"time"
)

// derBuf is a small allocation-free DER writer for the signing hot path
// (cryptobyte allocates a child builder per nested element). open writes a
// tag with a one-byte length placeholder; close fixes the length, moving the
// content when the length needs the long form. Nesting is bounded by the
// fixed stack; overflow panics (a programming error, never input-driven).
type derBuf struct {
	b     []byte
	stack [16]int
	depth int
}

func (d *derBuf) open(tag byte) {
	d.b = append(d.b, tag, 0)
	d.stack[d.depth] = len(d.b)
	d.depth++
}

func (d *derBuf) close() {
	d.depth--
	start := d.stack[d.depth]
	n := len(d.b) - start
	if n < 0x80 {
		d.b[start-1] = byte(n)
		return
	}
	extra := lengthLen(n) - 1
	for i := 0; i < extra; i++ {
		d.b = append(d.b, 0)
	}
	copy(d.b[start+extra:], d.b[start:start+n])
	d.b[start-1] = 0x80 | byte(extra)
	for i := 0; i < extra; i++ {
		d.b[start+i] = byte(n >> (8 * (extra - 1 - i)))
	}
}

func (d *derBuf) raw(p []byte) { d.b = append(d.b, p...) }

func (d *derBuf) primitive(tag byte, content []byte) {
	d.b = append(d.b, tag)
	d.b = appendLength(d.b, len(content))
	d.b = append(d.b, content...)
}

func (d *derBuf) octets(p []byte) { d.primitive(0x04, p) }

func (d *derBuf) oid(oid asn1.ObjectIdentifier) {
	d.b = append(d.b, 0x06, 0)
	start := len(d.b)
	if len(oid) >= 2 {
		d.b = appendBase128(d.b, oid[0]*40+oid[1])
		for _, c := range oid[2:] {
			d.b = appendBase128(d.b, c)
		}
	}
	d.b[start-1] = byte(len(d.b) - start) // OIDs here are < 128 bytes
}

func appendBase128(dst []byte, v int) []byte {
	n := 1
	for t := v >> 7; t > 0; t >>= 7 {
		n++
	}
	for i := n - 1; i >= 0; i-- {
		b := byte(v>>(7*i)) & 0x7f
		if i > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
	}
	return dst
}

func (d *derBuf) smallInt(v byte) { d.b = append(d.b, 0x02, 0x01, v) }

// bigInt writes an INTEGER.
func (d *derBuf) bigInt(n *big.Int) {
	if n.Sign() < 0 {
		if der, err := asn1.Marshal(n); err == nil {
			d.b = append(d.b, der...)
		}
		return
	}
	var tmp [48]byte
	var mag []byte
	if l := (n.BitLen() + 7) / 8; l <= len(tmp) {
		mag = n.FillBytes(tmp[:l])
	} else {
		mag = n.Bytes()
	}
	d.b = append(d.b, 0x02)
	if len(mag) == 0 || mag[0]&0x80 != 0 {
		d.b = appendLength(d.b, len(mag)+1)
		d.b = append(d.b, 0)
	} else {
		d.b = appendLength(d.b, len(mag))
	}
	d.b = append(d.b, mag...)
}

// algorithm writes an AlgorithmIdentifier: parameters from FullBytes (NULL,
// PSS parameters) or absent; anything else through encoding/asn1.
func (d *derBuf) algorithm(a pkix.AlgorithmIdentifier) {
	if len(a.Parameters.FullBytes) == 0 && (len(a.Parameters.Bytes) > 0 || a.Parameters.Tag != 0) {
		if der, err := asn1.Marshal(a); err == nil {
			d.b = append(d.b, der...)
		}
		return
	}
	d.open(0x30)
	d.oid(a.Algorithm)
	d.raw(a.Parameters.FullBytes)
	d.close()
}

// signingTime writes UTCTime for 1950–2049, else GeneralizedTime
// (RFC 5652 §11.3), t in UTC with whole seconds.
func (d *derBuf) signingTime(t time.Time) {
	t = t.UTC()
	if t.Year() >= 1950 && t.Year() < 2050 {
		d.b = append(d.b, 0x17, 13)
		d.b = t.AppendFormat(d.b, "060102150405Z")
		return
	}
	d.b = append(d.b, 0x18, 15)
	d.b = t.AppendFormat(d.b, "20060102150405Z")
}

// DER encodings of the OIDs written on every signature (a constant table).
var (
	derAttributeContentType          = mustDEROID(OIDAttributeContentType)
	derAttributeMessageDigest        = mustDEROID(OIDAttributeMessageDigest)
	derAttributeSigningTime          = mustDEROID(OIDAttributeSigningTime)
	derAttributeSigningCertificateV2 = mustDEROID(OIDAttributeSigningCertificateV2)
	derSignedData                    = mustDEROID(OIDSignedData)
)

func mustDEROID(oid asn1.ObjectIdentifier) []byte {
	var d derBuf
	d.oid(oid)
	return d.b
}
