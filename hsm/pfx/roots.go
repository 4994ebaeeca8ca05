package pfx

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// DefaultEIMZORoots returns the disk roots E-IMZO scans for key files, each
// of which is searched for *.pfx directly and in its DSKEYS sub-folder:
//
//   - Windows: every drive letter that exists (C:\, D:\, removable drives).
//   - macOS: / and every volume under /Volumes.
//   - Linux and other Unix: /, /media and /mnt (E-IMZO for Linux expects
//     keys in /media/DSKEYS), and every mount point of a block device from
//     /proc/mounts (USB sticks under /media/<user>/<label>, /run/media/…).
func DefaultEIMZORoots() []string {
	switch runtime.GOOS {
	case "windows":
		var roots []string
		for c := 'A'; c <= 'Z'; c++ {
			r := string(c) + `:\`
			if st, err := os.Stat(r); err == nil && st.IsDir() {
				roots = append(roots, r)
			}
		}
		return roots
	case "darwin":
		roots := []string{"/"}
		if ents, err := os.ReadDir("/Volumes"); err == nil {
			for _, e := range ents {
				roots = append(roots, filepath.Join("/Volumes", e.Name()))
			}
		}
		return roots
	}
	roots := []string{"/", "/media", "/mnt"}
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return roots
	}
	defer f.Close()
	seen := map[string]bool{"/": true, "/media": true, "/mnt": true}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.HasPrefix(fields[0], "/dev/") {
			continue
		}
		mp := unescapeMount(fields[1])
		if !seen[mp] {
			seen[mp] = true
			roots = append(roots, mp)
		}
	}
	return roots
}

// unescapeMount decodes the octal escapes (\040 for space) of /proc/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
