package plugintest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/signet-agent/signet/internal/wire"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

var (
	describeMu sync.Mutex
	described  = map[string]*pb.Description{}
)

// Describe runs the plugin executable bin just long enough to ask for its
// Description (the handshake, then Describe; the plugin is not started)
// and returns it. The answer is kept per executable.
func Describe(bin string) (*pb.Description, error) {
	describeMu.Lock()
	defer describeMu.Unlock()
	if d, ok := described[bin]; ok {
		return d, nil
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{wire.PluginKey: describer{}},
		Cmd:              exec.Command(bin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off}),
		StartTimeout:     time.Minute,
	})
	defer client.Kill()
	proto, err := client.Client()
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", bin, err)
	}
	raw, err := proto.Dispense(wire.PluginKey)
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", bin, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := raw.(pb.PluginClient).Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", bin, wire.FromStatus(err))
	}
	if d.GetName() == "" {
		return nil, fmt.Errorf("describe %s: the plugin's Description has no Name", bin)
	}
	described[bin] = d
	return d, nil
}

// describer is the go-plugin client side that only describes.
type describer struct{ plugin.NetRPCUnsupportedPlugin }

func (describer) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("plugintest serves no plugin")
}

func (describer) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return pb.NewPluginClient(conn), nil
}
