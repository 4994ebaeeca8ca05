package consentui

import (
	"errors"
)

// Form limits.
const (
	maxFields = 8
)

var errBadForm = errors.New("malformed form body")

// parseForm decodes an application/x-www-form-urlencoded body into byte
// slices, so that a PIN never becomes an (unwipeable) Go string. Each value
// is a fresh slice that shares nothing with body or with other values. A
// repeated name keeps the first value. Keys are short ASCII names; values
// are decoded with '+' as space and %XX escapes.
func parseForm(body []byte) (map[string][]byte, error) {
	form := map[string][]byte{}
	n := 0
	for len(body) > 0 {
		var pair []byte
		if i := indexByte(body, '&'); i >= 0 {
			pair, body = body[:i], body[i+1:]
		} else {
			pair, body = body, nil
		}
		if len(pair) == 0 {
			continue
		}
		n++
		if n > maxFields {
			return nil, errBadForm
		}
		var k, v []byte
		if i := indexByte(pair, '='); i >= 0 {
			k, v = pair[:i], pair[i+1:]
		} else {
			k = pair
		}
		key, err := unescape(k)
		if err != nil {
			return nil, err
		}
		val, err := unescape(v)
		if err != nil {
			return nil, err
		}
		name := string(key)
		if _, dup := form[name]; dup {
			wipe(val)
			continue
		}
		form[name] = val
	}
	return form, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func unescape(s []byte) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(s) {
				wipe(out)
				return nil, errBadForm
			}
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				wipe(out)
				return nil, errBadForm
			}
			out = append(out, h<<4|l)
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// wipeForm wipes every value of form except the one under keep.
func wipeForm(form map[string][]byte, keep string) {
	for k, v := range form {
		if k != keep {
			wipe(v)
		}
	}
}
