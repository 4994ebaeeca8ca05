package consentui

import (
	"bytes"
	"fmt"
	"html/template"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// DefaultKeep is how long Opener leaves a redirect file in place: long
// enough for a browser that is not running yet to start and read it.
const DefaultKeep = time.Minute

// Opener opens a URL in the person's browser without putting it on a
// command line, where every local user can read it (/proc/PID/cmdline, ps).
// It writes a small HTML page that redirects to the URL into a file readable
// only by the user (0600, in a fresh 0700 directory), hands that file's path
// to the system's handler (xdg-open, open, start), and removes the file
// after Keep; redirect files that a process which exited earlier left behind
// are removed by the next Open. The zero Opener is ready to use.
//
//	err := consentui.Opener{}.Open("https://127.0.0.1:8443/q/ID?k=KEY")
type Opener struct {
	// Dir holds the redirect files, each in a fresh private directory;
	// default $XDG_RUNTIME_DIR, or the temporary directory without it.
	Dir string
	// Start runs the handler command without waiting for it; default
	// exec.Command(name, args...).Start, reaped in the background.
	Start func(name string, args ...string) error
	// Keep is how long the redirect file stays; default DefaultKeep. A
	// process that exits earlier leaves it behind, still private, until
	// the next Open.
	Keep time.Duration
}

// OpenBrowser opens url with a zero Opener.
func OpenBrowser(url string) error { return Opener{}.Open(url) }

var redirectTmpl = template.Must(template.New("redirect").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url={{.}}"><title>Signet</title></head>
<body><script>location.replace({{.}});</script>
<p><a href="{{.}}">Open the Signet dialog</a></p></body></html>
`))

// Open writes the redirect file for url and starts the handler on it.
func (o Opener) Open(url string) error {
	var page bytes.Buffer
	if err := redirectTmpl.Execute(&page, url); err != nil {
		return fmt.Errorf("open browser: redirect page: %w", err)
	}
	base := o.Dir
	if base == "" {
		base = os.Getenv("XDG_RUNTIME_DIR")
	}
	if base == "" {
		base = os.TempDir()
	}
	keep := o.Keep
	if keep <= 0 {
		keep = DefaultKeep
	}
	sweep(base, keep)
	// MkdirTemp makes a new directory with mode 0700 and an unguessable
	// name, so no other user can have prepared or replaced it.
	dir, err := os.MkdirTemp(base, openPrefix)
	if err != nil {
		return fmt.Errorf("open browser: private directory: %w", err)
	}
	file := filepath.Join(dir, "dialog.html")
	if err := os.WriteFile(file, page.Bytes(), 0o600); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("open browser: redirect file: %w", err)
	}
	name, args := handler(file)
	start := o.Start
	if start == nil {
		start = startCommand
	}
	if err := start(name, args...); err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("open browser: %w", err)
	}
	time.AfterFunc(keep, func() { os.RemoveAll(dir) })
	return nil
}

// openPrefix starts the name of every redirect directory.
const openPrefix = "signet-open-"

// sweep removes the redirect directories in base older than keep (left by
// a process that exited before removing its own). Only real directories
// are removed, never what a symbolic link points to.
func sweep(base string, keep time.Duration) {
	old, _ := filepath.Glob(filepath.Join(base, openPrefix+"*"))
	for _, dir := range old {
		fi, err := os.Lstat(dir)
		if err == nil && fi.IsDir() && time.Since(fi.ModTime()) > keep {
			os.RemoveAll(dir)
		}
	}
}

// handler is the command that opens file with the default application for
// HTML, which is the browser.
func handler(file string) (string, []string) {
	switch runtime.GOOS {
	case "darwin":
		return "open", []string{file}
	case "windows":
		return "rundll32", []string{"url.dll,FileProtocolHandler", file}
	}
	return "xdg-open", []string{file}
}

func startCommand(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() //nolint:errcheck // reap; the handler's exit status says nothing useful
	return nil
}
