package serve

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// EnvNotifySocket is the variable the service manager sets to the datagram
// socket it reads readiness messages from (sd_notify(3)).
const EnvNotifySocket = "NOTIFY_SOCKET"

// Notifier tells the service manager about the agent's state: one datagram
// per message to the socket named by NOTIFY_SOCKET, in sd_notify(3)'s
// "KEY=value" lines. The zero Notifier (no socket) does nothing, so the
// agent behaves the same under systemd and in a terminal.
type Notifier struct {
	addr *net.UnixAddr
}

// NotifierFromEnv returns the Notifier for the socket named by
// NOTIFY_SOCKET (a path, or "@name" for an abstract socket), or the zero
// Notifier when it is unset. It refuses other address families
// (systemd's vsock form) by name.
func NotifierFromEnv(getenv func(string) string) (Notifier, error) {
	name := getenv(EnvNotifySocket)
	switch {
	case name == "":
		return Notifier{}, nil
	case strings.HasPrefix(name, "@"):
		name = "\x00" + name[1:]
	case !strings.HasPrefix(name, "/"):
		return Notifier{}, fmt.Errorf("%s=%q: want an absolute path or @name", EnvNotifySocket, name)
	}
	return Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}, nil
}

// Enabled reports whether a service manager listens.
func (n Notifier) Enabled() bool { return n.addr != nil }

// Notify sends state (lines such as "READY=1") in one datagram.
func (n Notifier) Notify(state ...string) error {
	if n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify %s: %w", EnvNotifySocket, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(state, "\n") + "\n")); err != nil {
		return fmt.Errorf("notify %s: %w", EnvNotifySocket, err)
	}
	return nil
}

// Ready tells the manager the agent serves (Type=notify's start is done).
func (n Notifier) Ready(status string) error {
	return n.Notify("READY=1", "STATUS="+status, fmt.Sprintf("MAINPID=%d", os.Getpid()))
}

// Reloading tells the manager a configuration reload began; Ready ends it.
// MONOTONIC_USEC is what Type=notify-reload requires with RELOADING=1.
func (n Notifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return errors.Join(fmt.Errorf("monotonic clock: %w", err), n.Notify("RELOADING=1"))
	}
	return n.Notify("RELOADING=1", fmt.Sprintf("MONOTONIC_USEC=%d", ts.Nano()/1000))
}

// Stopping tells the manager the agent is shutting down.
func (n Notifier) Stopping() error { return n.Notify("STOPPING=1", "STATUS=shutting down") }
