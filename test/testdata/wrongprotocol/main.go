// Command wrongprotocol is a plugin built for another Signet plugin
// protocol version (99): what an old or future SDK produces. The host must
// refuse it with a message that says so.
package main

import (
	"context"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/signet-agent/signet/internal/wire"
)

type p struct{ plugin.NetRPCUnsupportedPlugin }

func (p) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (p) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	hs := wire.Handshake
	hs.ProtocolVersion = 99
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         plugin.PluginSet{wire.PluginKey: p{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
