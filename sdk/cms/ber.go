package cms

import (
	"fmt"
)

// BER to DER normalisation.
//
// Java producers (BouncyCastle streaming generators, hence E-IMZO) write
// CMS in BER: indefinite lengths (0x80 ... 00 00), constructed ("chunked")
// OCTET STRINGs, and sometimes non-minimal long-form lengths. The parsers in
// this package use cryptobyte, which accepts only DER, so input is first
// rewritten here:
//
//   - indefinite lengths become definite lengths;
//   - constructed universal string types (OCTET STRING, BIT STRING, the
//     character strings) become one primitive string;
//   - lengths are written in minimal form.
//
// SET OF elements are not re-sorted: signatures cover the encoding as the
// signer produced it. Input that needs none of the rewrites is returned as
// is (same slice), so byte-exact fields are untouched.
//
// The work is bounded: nesting depth by maxBERDepth, the number of elements
// by the input length (every element takes at least two bytes), lengths by
// 2^32, and the output by the input length plus a few bytes per element
// (a definite length of a 16 MiB+ element takes 5 bytes where 0x80 and the
// end-of-contents octets took 3).

const maxBERDepth = 64

type berNode struct {
	tag         []byte // identifier octets, as in the input
	constructed bool
	flatten     bool   // constructed string to be written as primitive
	bitString   bool   // flatten: BIT STRING (unused-bits octet per chunk)
	content     []byte // primitive content
	children    []*berNode
	outLen      int // length of the output content octets
}

// normalizeBER returns the DER form of a single BER element. It returns an
// error wrapping ErrMalformed if data is not exactly one well-formed element.
func normalizeBER(data []byte) ([]byte, error) {
	p := berParser{}
	n, rest, err := p.parse(data, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes of trailing data", ErrMalformed, len(rest))
	}
	if !p.changed {
		return data, nil
	}
	out := make([]byte, 0, n.totalLen())
	out = n.write(out)
	return out, nil
}

type berParser struct {
	changed bool // the input is not DER and must be rewritten
}

// stringTag reports whether a universal tag number is a string type that
// BER allows in constructed form.
func stringTag(num byte) bool {
	switch num {
	case 3, 4, 12, 18, 19, 20, 21, 22, 25, 26, 27, 28, 30:
		return true
	}
	return false
}

func (p *berParser) parse(in []byte, depth int) (*berNode, []byte, error) {
	if depth > maxBERDepth {
		return nil, nil, fmt.Errorf("%w: nesting deeper than %d", ErrMalformed, maxBERDepth)
	}
	if len(in) < 2 {
		return nil, nil, fmt.Errorf("%w: truncated element", ErrMalformed)
	}
	// Identifier octets.
	i := 1
	if in[0]&0x1f == 0x1f {
		for {
			if i >= len(in) || i > 5 {
				return nil, nil, fmt.Errorf("%w: bad high tag number", ErrMalformed)
			}
			b := in[i]
			i++
			if b&0x80 == 0 {
				break
			}
		}
	}
	n := &berNode{tag: in[:i], constructed: in[0]&0x20 != 0}
	if i >= len(in) {
		return nil, nil, fmt.Errorf("%w: truncated length", ErrMalformed)
	}
	// Length octets.
	lb := in[i]
	i++
	indefinite := false
	length := 0
	switch {
	case lb == 0x80:
		if !n.constructed {
			return nil, nil, fmt.Errorf("%w: indefinite length on a primitive element", ErrMalformed)
		}
		indefinite = true
		p.changed = true
	case lb < 0x80:
		length = int(lb)
	default:
		nb := int(lb & 0x7f)
		if nb > 4 || i+nb > len(in) {
			return nil, nil, fmt.Errorf("%w: bad length", ErrMalformed)
		}
		for k := 0; k < nb; k++ {
			length = length<<8 | int(in[i+k])
		}
		i += nb
		if length < 0x80 || (nb > 1 && in[i-nb] == 0) {
			p.changed = true // non-minimal length
		}
	}
	body := in[i:]
	if !indefinite && length > len(body) {
		return nil, nil, fmt.Errorf("%w: length %d exceeds the %d bytes available", ErrMalformed, length, len(body))
	}
	universal := in[0]&0xc0 == 0
	if !n.constructed {
		n.content = body[:length]
		n.outLen = length
		return n, body[length:], nil
	}
	if universal && stringTag(in[0]&0x1f) {
		n.flatten = true
		n.bitString = in[0]&0x1f == 3
		p.changed = true
	}
	var rest []byte
	if indefinite {
		rest = body
		for {
			if len(rest) >= 2 && rest[0] == 0 && rest[1] == 0 {
				rest = rest[2:]
				break
			}
			if len(rest) == 0 {
				return nil, nil, fmt.Errorf("%w: missing end-of-contents", ErrMalformed)
			}
			c, r, err := p.parse(rest, depth+1)
			if err != nil {
				return nil, nil, err
			}
			n.children = append(n.children, c)
			rest = r
		}
	} else {
		inner := body[:length]
		rest = body[length:]
		for len(inner) > 0 {
			c, r, err := p.parse(inner, depth+1)
			if err != nil {
				return nil, nil, err
			}
			n.children = append(n.children, c)
			inner = r
		}
	}
	if n.flatten {
		if err := n.checkChunks(in[0] & 0x1f); err != nil {
			return nil, nil, err
		}
		n.outLen = n.flatLen()
		if n.bitString {
			n.outLen++ // the single unused-bits octet
		}
		return n, rest, nil
	}
	for _, c := range n.children {
		n.outLen += c.totalLen()
	}
	return n, rest, nil
}

// checkChunks verifies that every chunk of a constructed string has the
// same universal type (primitive or, recursively, constructed) and, for BIT
// STRING, that only the last chunk has unused bits.
func (n *berNode) checkChunks(num byte) error {
	var walk func(n *berNode, last bool) error
	walk = func(n *berNode, last bool) error {
		for k, c := range n.children {
			if len(c.tag) != 1 || c.tag[0]&0x1f != num || c.tag[0]&0xc0 != 0 {
				return fmt.Errorf("%w: constructed string with a foreign chunk", ErrMalformed)
			}
			isLast := last && k == len(n.children)-1
			if c.constructed {
				if err := walk(c, isLast); err != nil {
					return err
				}
				continue
			}
			if n.bitString || num == 3 {
				if len(c.content) == 0 || c.content[0] > 7 || (!isLast && c.content[0] != 0) {
					return fmt.Errorf("%w: bad BIT STRING chunk", ErrMalformed)
				}
			}
		}
		return nil
	}
	return walk(n, true)
}

// flatLen is the number of content bytes of a flattened string, without the
// BIT STRING unused-bits octet.
func (n *berNode) flatLen() int {
	if !n.constructed {
		if n.bitStringChunk() {
			return len(n.content) - 1
		}
		return len(n.content)
	}
	total := 0
	for _, c := range n.children {
		total += c.flatLen()
	}
	return total
}

func (n *berNode) bitStringChunk() bool { return len(n.tag) == 1 && n.tag[0] == 0x03 }

func lengthLen(l int) int {
	if l < 0x80 {
		return 1
	}
	k := 1
	for l > 0 {
		k++
		l >>= 8
	}
	return k
}

func (n *berNode) totalLen() int {
	return len(n.tag) + lengthLen(n.outLen) + n.outLen
}

func appendLength(out []byte, l int) []byte {
	if l < 0x80 {
		return append(out, byte(l))
	}
	nb := lengthLen(l) - 1
	out = append(out, 0x80|byte(nb))
	for k := nb - 1; k >= 0; k-- {
		out = append(out, byte(l>>(8*k)))
	}
	return out
}

func (n *berNode) write(out []byte) []byte {
	if n.flatten {
		out = append(out, n.tag[0]&^0x20)
		out = appendLength(out, n.outLen)
		if n.bitString {
			out = append(out, n.lastUnused())
		}
		return n.writeChunks(out)
	}
	out = append(out, n.tag...)
	out = appendLength(out, n.outLen)
	if !n.constructed {
		return append(out, n.content...)
	}
	for _, c := range n.children {
		out = c.write(out)
	}
	return out
}

func (n *berNode) writeChunks(out []byte) []byte {
	if !n.constructed {
		if n.bitStringChunk() {
			return append(out, n.content[1:]...)
		}
		return append(out, n.content...)
	}
	for _, c := range n.children {
		out = c.writeChunks(out)
	}
	return out
}

// lastUnused returns the unused-bits octet of the last BIT STRING chunk.
func (n *berNode) lastUnused() byte {
	for n.constructed {
		if len(n.children) == 0 {
			return 0
		}
		n = n.children[len(n.children)-1]
	}
	if len(n.content) == 0 {
		return 0
	}
	return n.content[0]
}
