package kontur

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// newCode returns a 6-digit code from crypto/rand, uniform over
// 000000–999999.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", fmt.Errorf("code: %w", err)
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// validCode reports whether s can be a code at all (1–16 digits): anything
// else is a malformed request, refused before it reaches the database and
// without costing an attempt. Every well-formed wrong code costs one.
func validCode(s string) bool {
	if len(s) == 0 || len(s) > 16 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
