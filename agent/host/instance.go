package host

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/signet-agent/signet/internal/wire"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

// instance supervises one configured plugin across restarts.
type instance struct {
	m    *Manager
	spec PluginSpec
	log  *slog.Logger

	firstDone chan struct{}
	firstErr  error
	firstOnce sync.Once

	mu           sync.Mutex
	st           PluginStatus
	rpc          pb.PluginClient
	stopDeadline time.Time
}

func newInstance(m *Manager, spec PluginSpec) *instance {
	return &instance{
		m:         m,
		spec:      spec,
		log:       m.log.With("plugin", spec.Name),
		firstDone: make(chan struct{}),
		st:        PluginStatus{Name: spec.Name, Path: spec.Path, State: Starting, Since: time.Now()},
	}
}

func (in *instance) status() PluginStatus {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.st
	st.Listeners = append([]Listener(nil), st.Listeners...)
	st.URLSchemes = append([]string(nil), st.URLSchemes...)
	return st
}

func (in *instance) setState(s State, err error) {
	in.mu.Lock()
	defer in.changed()
	defer in.mu.Unlock()
	in.st.State = s
	in.st.Since = time.Now()
	if err != nil {
		in.st.LastError = err.Error()
	}
	if s != Running {
		in.st.PID = 0
		in.st.Listeners = nil
	}
}

// changed reports the current status to Config.OnChange; in.mu must not
// be held.
func (in *instance) changed() {
	if f := in.m.cfg.OnChange; f != nil {
		f(in.status())
	}
}

func (in *instance) first(err error) {
	in.firstOnce.Do(func() {
		in.firstErr = err
		close(in.firstDone)
	})
}

func (in *instance) setStopDeadline(ctx context.Context) {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(10 * time.Second)
	}
	in.mu.Lock()
	in.stopDeadline = d
	in.mu.Unlock()
}

// kill ends a running plugin's process group at once (shutdown deadline
// passed); its supervisor then cleans up.
func (in *instance) kill() {
	in.mu.Lock()
	pid := in.st.PID
	in.mu.Unlock()
	killGroup(pid)
}

func (in *instance) handles(scheme string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.st.State != Running {
		return false
	}
	for _, s := range in.st.URLSchemes {
		if strings.EqualFold(s, scheme) {
			return true
		}
	}
	return false
}

func (in *instance) openURL(ctx context.Context, rawURL string) error {
	in.mu.Lock()
	rpc := in.rpc
	in.mu.Unlock()
	if rpc == nil {
		return fmt.Errorf("plugin %s is not running: %w", in.spec.Name, wire.ErrUnavailable)
	}
	_, err := rpc.OpenURL(ctx, &pb.OpenURLRequest{Url: rawURL})
	if err != nil {
		return fmt.Errorf("plugin %s: open URL: %w", in.spec.Name, wire.FromStatus(err))
	}
	return nil
}

// permanentError marks failures that a restart cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// supervise runs the plugin until ctx is done, restarting it with backoff.
func (in *instance) supervise(ctx context.Context) {
	backoff := in.m.cfg.MinBackoff
	for {
		started := time.Now()
		err := in.runOnce(ctx)
		if ctx.Err() != nil {
			in.setState(Stopped, nil)
			in.first(nil)
			return
		}
		var perm permanentError
		if errors.As(err, &perm) {
			in.log.Error("plugin refused, not restarting", "error", err)
			in.setState(Failed, err)
			in.first(err)
			return
		}
		in.first(err)
		if time.Since(started) > in.m.cfg.StableAfter {
			backoff = in.m.cfg.MinBackoff
		}
		in.mu.Lock()
		in.st.Restarts++
		restarts := in.st.Restarts
		in.mu.Unlock()
		in.setState(Restarting, err)
		in.log.Warn("plugin exited, restarting", "error", err, "restarts", restarts, "backoff", backoff)
		select {
		case <-ctx.Done():
			in.setState(Stopped, nil)
			return
		case <-time.After(backoff):
		}
		backoff *= 2
		if backoff > in.m.cfg.MaxBackoff {
			backoff = in.m.cfg.MaxBackoff
		}
	}
}

// exitPoll is how often a running plugin is checked for exit.
const exitPoll = 20 * time.Millisecond

// run is one start of the plugin process, from launch to exit.
type run struct {
	started   time.Time
	lifeline  *os.File // the write end; the plugin reads EOF on fd 3 when it closes
	cmd       *exec.Cmd
	client    *plugin.Client
	pc        *pluginClient // set by handshake
	release   func()        // closes the host's copies of what the child inherits
	handshake time.Duration
	stopped   bool // the plugin drained after a Stop
}

// runOnce starts the plugin process, waits for it to be ready, and watches
// it until it exits (returns the reason) or ctx is done (stops it, returns
// nil). The goroutine stays locked to its OS thread while the process
// lives: Pdeathsig is tied to the thread that forked.
func (in *instance) runOnce(ctx context.Context) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	in.setState(Starting, nil)
	r, err := in.prepare()
	if err != nil {
		return err
	}
	defer in.end(r)
	if err := in.handshake(r); err != nil {
		return err
	}

	startCtx, cancel := context.WithTimeout(ctx, in.m.cfg.StartTimeout)
	defer cancel()
	desc, err := in.describe(startCtx, r.pc)
	if err != nil {
		return err
	}
	in.allowTLSNames(desc)
	brokerID, stopServices := in.serveHostServices(r.pc)
	defer stopServices()
	listeners, err := in.start(startCtx, r.pc, desc, brokerID)
	if err != nil {
		return err
	}
	in.ready(r, desc, listeners)
	defer in.setRPC(nil)
	return in.watch(ctx, r)
}

// prepare makes the lifeline and the go-plugin client of a run; the
// process starts in handshake.
func (in *instance) prepare() (*run, error) {
	r := &run{started: time.Now()}
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("plugin %s: lifeline pipe: %w", in.spec.Name, err)
	}
	cmd, release, err := pluginCommand(in.spec, os.Environ(), lifeR)
	if err != nil {
		lifeR.Close()
		lifeW.Close()
		return nil, err
	}
	r.lifeline, r.cmd = lifeW, cmd
	r.client = plugin.NewClient(in.clientConfig(cmd))
	// handshake closes the read end once the child has its copy.
	r.release = func() {
		lifeR.Close()
		release()
	}
	return r, nil
}

// clientConfig is go-plugin's configuration for the plugin command cmd.
func (in *instance) clientConfig(cmd *exec.Cmd) *plugin.ClientConfig {
	return &plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{wire.PluginKey: &hostPlugin{}},
		Cmd:              cmd,
		SkipHostEnv:      true, // cmd.Env is the plugin's whole environment (pluginCommand)
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     in.m.cfg.StartTimeout,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "go-plugin", Level: hclog.Warn, Output: &lineLogger{log: in.log, level: slog.LevelWarn, msg: "go-plugin"},
		}),
		Stderr:     &lineLogger{log: in.log, level: slog.LevelInfo, msg: "stderr"},
		SyncStdout: &lineLogger{log: in.log, level: slog.LevelInfo, msg: "stdout"},
		SyncStderr: &lineLogger{log: in.log, level: slog.LevelInfo, msg: "stderr"},
	}
}

// handshake starts the process, completes go-plugin's handshake and gets
// the plugin's client.
func (in *instance) handshake(r *run) error {
	proto, err := r.client.Client()
	r.release()
	if err != nil {
		return in.startError(err)
	}
	r.handshake = time.Since(r.started)
	raw, err := proto.Dispense(wire.PluginKey)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", in.spec.Name, err)
	}
	r.pc = raw.(*pluginClient)
	return nil
}

// end ends what is left of a run: a plugin that drained after Stop is let
// exit (endStopped); otherwise its process group is killed first (a child
// holding the plugin's stdout would make go-plugin's Kill wait forever),
// then go-plugin cleans up. Nothing of the instance survives it.
func (in *instance) end(r *run) {
	defer r.lifeline.Close()
	if r.stopped {
		in.endStopped(r.client, r.cmd)
		return
	}
	if p := r.cmd.Process; p != nil {
		killGroup(p.Pid)
	}
	r.client.Kill()
}

// describe asks the plugin what it is and refuses (permanently) one that
// speaks another protocol version.
func (in *instance) describe(ctx context.Context, pc *pluginClient) (*pb.Description, error) {
	desc, err := pc.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("plugin %s: describe: %w", in.spec.Name, wire.FromStatus(err))
	}
	if desc.GetProtocolVersion() != wire.ProtocolVersion {
		return nil, permanentError{fmt.Errorf("plugin %s speaks Signet plugin protocol %d, this host speaks %d: rebuild the plugin with a matching sdk",
			in.spec.Name, desc.GetProtocolVersion(), wire.ProtocolVersion)}
	}
	if desc.GetName() != in.spec.Name {
		in.log.Debug("plugin describes itself under another name", "described", desc.GetName())
	}
	return desc, nil
}

// allowTLSNames checks the names the plugin declares for its TLS listeners
// against the configured ones; they never extend the CA (see NameAllower).
func (in *instance) allowTLSNames(desc *pb.Description) {
	na, ok := in.m.tls.(NameAllower)
	if !ok {
		return
	}
	var names []string
	for _, l := range desc.GetListeners() {
		if l.GetTls() {
			names = append(names, l.GetTlsNames()...)
		}
	}
	if len(names) == 0 {
		return
	}
	if err := na.AllowNames(in.spec.Name, names); err != nil {
		in.log.Warn("TLS names the plugin declares", "names", names, "error", err)
	}
}

// serveHostServices serves the host services to this run on a connection
// brokered by go-plugin; stop stops that server, ending calls in flight.
func (in *instance) serveHostServices(pc *pluginClient) (brokerID uint32, stop func()) {
	svc := &services{m: in.m, plugin: in.spec.Name, log: in.log}
	var mu sync.Mutex
	var srv *grpc.Server
	brokerID = pc.broker.NextId()
	go pc.broker.AcceptAndServe(brokerID, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(append(opts, hostServerOptions()...)...)
		pb.RegisterKeyStoreServer(s, svc)
		pb.RegisterConsentServer(s, svc)
		pb.RegisterLogServer(s, svc)
		pb.RegisterTLSServer(s, svc)
		mu.Lock()
		srv = s
		mu.Unlock()
		return s
	})
	return brokerID, func() {
		mu.Lock()
		defer mu.Unlock()
		if srv != nil {
			srv.Stop()
		}
		// The run is over: its uploaded key containers go with it.
		if n := in.m.uploads.closePlugin(in.spec.Name); n > 0 {
			in.log.Info("forgot the plugin's uploaded key containers", "count", n)
		}
	}
}

// lowestLevel is the lowest of slog's levels h keeps (Error when it keeps
// none of them): a plugin's SDK does not send records below it, which the
// host would drop (services.Write).
func lowestLevel(ctx context.Context, h slog.Handler) slog.Level {
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if h.Enabled(ctx, l) {
			return l
		}
	}
	return slog.LevelError
}

// hostServerOptions are the gRPC options of the host services' server,
// on top of go-plugin's (its mTLS credentials). Stream workers: each call
// runs on one of a few long-lived goroutines whose stacks have already
// grown, instead of a new goroutine that grows its stack on every call
// (a few percent of the agent's CPU per signature; docs/plugin-transport.md).
// A call finding every worker busy (a consent dialog open, say) still gets
// a goroutine of its own.
func hostServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.NumStreamWorkers(uint32(max(2, runtime.GOMAXPROCS(0))))}
}

// start asks the plugin to bind its listeners and start serving.
func (in *instance) start(ctx context.Context, pc *pluginClient, desc *pb.Description, brokerID uint32) ([]Listener, error) {
	resp, err := pc.rpc.Start(ctx, &pb.StartRequest{
		HostBrokerId: brokerID, PluginName: in.spec.Name,
		Options: in.spec.Options, Listen: listenConfig(in.spec.Listen, desc.GetListeners()),
		LogLevel: int32(lowestLevel(ctx, in.log.Handler())),
	})
	if err != nil {
		return nil, fmt.Errorf("plugin %s: start: %w", in.spec.Name, wire.FromStatus(err))
	}
	var listeners []Listener
	for _, l := range resp.GetListeners() {
		listeners = append(listeners, Listener{Name: l.GetName(), Addr: l.GetAddr(), TLS: l.GetTls()})
	}
	return listeners, nil
}

// ready records the started plugin as running, reports and logs it.
func (in *instance) ready(r *run, desc *pb.Description, listeners []Listener) {
	pid := 0
	if rc := r.client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	in.mu.Lock()
	in.rpc = r.pc.rpc
	in.st.Version, in.st.Summary, in.st.URLSchemes = desc.GetVersion(), desc.GetSummary(), desc.GetUrlSchemes()
	in.st.State, in.st.Since, in.st.PID, in.st.Listeners = Running, time.Now(), pid, listeners
	in.mu.Unlock()
	in.changed()
	in.log.Info("plugin ready", "version", desc.GetVersion(), "pid", pid, "listeners", listenerText(listeners),
		"handshake", r.handshake.Round(time.Millisecond), "startup", time.Since(r.started).Round(time.Millisecond))
	in.first(nil)
}

// setRPC sets the client OpenURL uses (nil: not running).
func (in *instance) setRPC(rpc pb.PluginClient) {
	in.mu.Lock()
	in.rpc = rpc
	in.mu.Unlock()
}

// watch waits until the plugin exits (returns why) or ctx is done (stops
// the plugin, returns nil).
func (in *instance) watch(ctx context.Context, r *run) error {
	t := time.NewTicker(exitPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.stopped = in.stop(r.pc)
			return nil
		case <-t.C:
			if r.client.Exited() {
				return fmt.Errorf("plugin %s exited: %s", in.spec.Name, exitText(r.cmd))
			}
		}
	}
}

// listenConfig resolves positional listen entries against the plugin's
// declared listeners.
func listenConfig(cfg []ListenConfig, declared []*pb.ListenerSpec) []*pb.ListenerConfig {
	var out []*pb.ListenerConfig
	set := map[string]bool{}
	pos := 0
	var wildcard *ListenConfig
	for i, c := range cfg {
		name := c.Name
		switch name {
		case "*":
			wildcard = &cfg[i]
			continue
		case "":
			if pos >= len(declared) {
				continue
			}
			name = declared[pos].GetName()
			pos++
		}
		set[name] = true
		out = append(out, &pb.ListenerConfig{Name: name, Addr: c.Addr, TlsNames: c.TLSNames})
	}
	if wildcard != nil {
		for _, d := range declared {
			if !set[d.GetName()] {
				out = append(out, &pb.ListenerConfig{Name: d.GetName(), Addr: wildcard.Addr, TlsNames: wildcard.TLSNames})
			}
		}
	}
	return out
}

// stop asks the plugin to finish in-flight work before the deadline and
// reports whether it did; the run's end then ends the process
// (endStopped).
func (in *instance) stop(pc *pluginClient) bool {
	in.mu.Lock()
	deadline := in.stopDeadline
	in.mu.Unlock()
	if deadline.IsZero() {
		deadline = time.Now().Add(5 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	timeout := time.Until(deadline)
	if _, err := pc.rpc.Stop(ctx, &pb.StopRequest{TimeoutMs: timeout.Milliseconds()}); err != nil {
		in.log.Warn("plugin stop", "error", wire.FromStatus(err))
		return false
	}
	return true
}

// exitGrace bounds how long a plugin that drained after Stop may take to
// exit once its connection is closed; go-plugin itself waits 2 s before it
// kills the process.
const exitGrace = 3 * time.Second

// endStopped ends a plugin that drained after Stop: go-plugin closes its
// connection, on which the plugin exits by itself; its process group is
// killed afterwards (children it left), or at once when it has not exited
// within exitGrace (a child holding its stdout keeps go-plugin waiting).
func (in *instance) endStopped(client *plugin.Client, cmd *exec.Cmd) {
	pid := 0
	if cmd.Process != nil {
		pid = cmd.Process.Pid
	}
	done := make(chan struct{})
	go func() {
		client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(exitGrace):
		in.log.Warn("plugin did not exit after stop, killing it", "grace", exitGrace)
		killGroup(pid)
		<-done
	}
	killGroup(pid)
	if cmd.ProcessState != nil && cmd.ProcessState.Success() {
		in.log.Info("plugin stopped")
	} else {
		in.log.Info("plugin stopped", "exit", exitText(cmd))
	}
}

// startError turns go-plugin's start failures into messages a person can
// act on.
func (in *instance) startError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(strings.ToLower(msg), "incompatible api version"):
		return permanentError{fmt.Errorf("plugin %s refused: it was built for another Signet plugin protocol version than this host's (%d); rebuild it with a matching sdk (%s)",
			in.spec.Name, wire.ProtocolVersion, firstLine(msg))}
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		line := strings.TrimPrefix(firstLine(msg), "Unrecognized remote plugin message: ")
		if len(line) > 120 {
			line = line[:120] + "…"
		}
		return fmt.Errorf("plugin %s did not complete the handshake: it wrote %q to stdout instead (is %s a Signet plugin? plugins must not print to stdout)",
			in.spec.Name, line, in.spec.Path)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("plugin %s did not complete the handshake within %v", in.spec.Name, in.m.cfg.StartTimeout)
	case strings.Contains(msg, "plugin exited before we could connect"):
		return fmt.Errorf("plugin %s exited before the handshake (see its stderr above)", in.spec.Name)
	}
	return fmt.Errorf("plugin %s: start: %w", in.spec.Name, err)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func exitText(cmd *exec.Cmd) string {
	if cmd.ProcessState == nil {
		return "unknown status"
	}
	return cmd.ProcessState.String()
}

func listenerText(ls []Listener) string {
	var parts []string
	for _, l := range ls {
		scheme := "tcp"
		if l.TLS {
			scheme = "tls"
		}
		parts = append(parts, fmt.Sprintf("%s=%s://%s", l.Name, scheme, l.Addr))
	}
	return strings.Join(parts, " ")
}

// hostPlugin is the go-plugin glue on the host side.
type hostPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

type pluginClient struct {
	rpc    pb.PluginClient
	broker *plugin.GRPCBroker
}

func (hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host serves no plugin")
}

func (hostPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &pluginClient{rpc: pb.NewPluginClient(conn), broker: broker}, nil
}

// lineLogger writes each line it receives as one log record.
type lineLogger struct {
	log   *slog.Logger
	level slog.Level
	msg   string

	mu  sync.Mutex
	buf bytes.Buffer
}

const maxLogLine = 4096

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadBytes('\n')
		if err == io.EOF {
			// keep the partial line, bounded
			if len(line) > maxLogLine {
				line = line[:maxLogLine]
				l.emit(line)
				line = nil
			}
			l.buf.Reset()
			l.buf.Write(line)
			return len(p), nil
		}
		l.emit(bytes.TrimRight(line, "\r\n"))
	}
}

func (l *lineLogger) emit(line []byte) {
	s := strings.TrimSpace(string(line))
	if s == "" {
		return
	}
	if len(s) > maxLogLine {
		s = s[:maxLogLine] + "…"
	}
	level := l.level
	// go-plugin's own JSON log lines on the plugin's stderr keep their level.
	if strings.HasPrefix(s, "{") && (strings.Contains(s, `"@level":"debug"`) || strings.Contains(s, `"@level":"trace"`)) {
		level = slog.LevelDebug
	}
	l.log.Log(context.Background(), level, l.msg, "line", s)
}
