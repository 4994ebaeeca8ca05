package cms

import (
	"errors"
	"fmt"
)

// envBERToDER re-encodes a BER element as DER so that the cryptobyte parser
// in envelope.go can read it: indefinite lengths become definite, long-form
// lengths become minimal, and constructed (chunked) OCTET STRINGs become
// primitive. SET OF elements are not re-sorted (the envelope parser does not
// depend on their order). Constructed context-specific strings (such as the
// [0] IMPLICIT encryptedContent) stay constructed; the envelope parser joins
// their chunks itself.
//
// TODO(H4): switch to the package's shared BER→DER normaliser once it lands.
func envBERToDER(in []byte) ([]byte, error) {
	out, rest, err := envBERElement(in, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("BER: trailing data after the outer element")
	}
	return out, nil
}

// envBERMaxDepth bounds recursion on hostile input.
const envBERMaxDepth = 64

// envBERElement converts one element at the start of in and returns it with
// the remaining input.
func envBERElement(in []byte, depth int) (der, rest []byte, err error) {
	if depth > envBERMaxDepth {
		return nil, nil, errors.New("BER: nested too deeply")
	}
	if len(in) < 2 {
		return nil, nil, errors.New("BER: truncated element")
	}
	// Identifier octets (high tag numbers use 0x1f and base-128 follow-ups).
	hdr := 1
	if in[0]&0x1f == 0x1f {
		for {
			if hdr >= len(in) || hdr > 5 {
				return nil, nil, errors.New("BER: malformed tag")
			}
			b := in[hdr]
			hdr++
			if b&0x80 == 0 {
				break
			}
		}
	}
	tag := in[:hdr]
	constructed := in[0]&0x20 != 0
	if hdr >= len(in) {
		return nil, nil, errors.New("BER: truncated length")
	}
	lb := in[hdr]
	hdr++
	indefinite := false
	length := 0
	switch {
	case lb == 0x80:
		if !constructed {
			return nil, nil, errors.New("BER: indefinite length on a primitive element")
		}
		indefinite = true
	case lb < 0x80:
		length = int(lb)
	default:
		n := int(lb & 0x7f)
		if n > 4 || hdr+n > len(in) {
			return nil, nil, errors.New("BER: unsupported or truncated length")
		}
		for i := 0; i < n; i++ {
			length = length<<8 | int(in[hdr+i])
		}
		hdr += n
	}
	if length < 0 || length > len(in)-hdr {
		return nil, nil, errors.New("BER: length exceeds input")
	}
	body := in[hdr:]

	if !constructed {
		return envDEREncode(tag, body[:length]), body[length:], nil
	}

	// Constructed: convert children until the end of the definite content or
	// the end-of-contents octets.
	var content []byte
	var children [][]byte
	var src []byte
	if indefinite {
		src = body
	} else {
		src = body[:length]
	}
	for {
		if indefinite {
			if len(src) >= 2 && src[0] == 0 && src[1] == 0 {
				src = src[2:]
				break
			}
			if len(src) == 0 {
				return nil, nil, errors.New("BER: missing end-of-contents")
			}
		} else if len(src) == 0 {
			break
		}
		child, r, err := envBERElement(src, depth+1)
		if err != nil {
			return nil, nil, err
		}
		children = append(children, child)
		src = r
	}
	if indefinite {
		rest = src
	} else {
		rest = body[length:]
	}

	// Universal OCTET STRING in constructed form: DER wants it primitive.
	if len(tag) == 1 && tag[0] == 0x24 {
		for _, c := range children {
			if len(c) == 0 || c[0] != 0x04 {
				return nil, nil, fmt.Errorf("BER: constructed OCTET STRING holds tag %#x", c[0])
			}
			_, inner, err := envDERContent(c)
			if err != nil {
				return nil, nil, err
			}
			content = append(content, inner...)
		}
		return envDEREncode([]byte{0x04}, content), rest, nil
	}
	for _, c := range children {
		content = append(content, c...)
	}
	return envDEREncode(tag, content), rest, nil
}

// envDEREncode writes tag, a minimal definite length and content.
func envDEREncode(tag, content []byte) []byte {
	out := make([]byte, 0, len(tag)+6+len(content))
	out = append(out, tag...)
	n := len(content)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 1<<8:
		out = append(out, 0x81, byte(n))
	case n < 1<<16:
		out = append(out, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		out = append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, content...)
}

// envDERContent splits a DER element produced by envDEREncode (single-byte
// tag) into tag and content.
func envDERContent(e []byte) (tag byte, content []byte, err error) {
	if len(e) < 2 {
		return 0, nil, errors.New("BER: truncated element")
	}
	lb := e[1]
	if lb < 0x80 {
		return e[0], e[2:], nil
	}
	n := int(lb & 0x7f)
	if 2+n > len(e) {
		return 0, nil, errors.New("BER: truncated length")
	}
	return e[0], e[2+n:], nil
}
