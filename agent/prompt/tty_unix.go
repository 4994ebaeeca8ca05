//go:build !windows

package prompt

import "os"

// OpenTTY opens the controlling terminal.
func OpenTTY() (Console, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &tty{in: f, out: f}, nil
}
