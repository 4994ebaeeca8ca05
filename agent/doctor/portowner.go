package doctor

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// portOwner names the process listening on addr ("pid 1234 (e-imzo)"), or
// "" when it cannot tell: Linux only, and only processes whose file
// descriptors this user may read (its own, or every one as root).
func portOwner(addr string) string {
	inode := listenInode(addr)
	if inode == "" {
		return ""
	}
	target := "socket:[" + inode + "]"
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, err := os.ReadDir(filepath.Join(p, "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(p, "fd", fd.Name())); err == nil && link == target {
				comm, _ := os.ReadFile(filepath.Join(p, "comm"))
				return fmt.Sprintf("pid %s (%s)", filepath.Base(p), strings.TrimSpace(string(comm)))
			}
		}
	}
	return ""
}

// listenInode finds the socket inode of the TCP listener on addr in
// /proc/net/tcp or tcp6.
func listenInode(addr string) string {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	port, err := strconv.Atoi(portStr)
	ip := net.ParseIP(host)
	if err != nil || ip == nil {
		return ""
	}
	file, want := "/proc/net/tcp6", procHex(ip.To16())
	if v4 := ip.To4(); v4 != nil {
		file, want = "/proc/net/tcp", procHex(v4)
	}
	want += fmt.Sprintf(":%04X", port)
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// sl local_address rem_address st ... inode (field 9); 0A is LISTEN.
		if len(fields) > 9 && fields[1] == want && fields[3] == "0A" {
			return fields[9]
		}
	}
	return ""
}

// procHex writes ip as /proc/net/tcp does: each 32-bit word in host
// (little-endian) order.
func procHex(ip net.IP) string {
	b := make([]byte, len(ip))
	for i := 0; i+4 <= len(ip); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = ip[i+3], ip[i+2], ip[i+1], ip[i]
	}
	return strings.ToUpper(hex.EncodeToString(b))
}
