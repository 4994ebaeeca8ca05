//go:build windows

package prompt

import "os"

// OpenTTY opens the console.
func OpenTTY() (Console, error) {
	in, err := os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	out, err := os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		in.Close()
		return nil, err
	}
	return &tty{in: in, out: out}, nil
}
