// Command benchplugin measures host calls from inside a plugin process. It
// declares one plain TCP listener "ctl"; each line it reads there is a
// command, answered with one line:
//
//	broker N        N Consent.Ask calls to the host through the broker
//	plain N PATH    N Consent.Ask calls to a plain gRPC server on unix socket PATH
//
// The answer is the elapsed time in nanoseconds, or "error: …".
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/signet-agent/signet/sdk"
	pb "github.com/signet-agent/signet/sdk/proto/signetv1"
)

type plugin struct{}

func (plugin) Describe() sdk.Description {
	return sdk.Description{Name: "bench", Version: "0", Listeners: []sdk.ListenerSpec{{Name: "ctl", Addr: "127.0.0.1:0"}}}
}

func (plugin) Serve(ctx context.Context, host *sdk.Host) error {
	ln, err := host.Listen(ctx, "ctl")
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go handle(ctx, host, c)
	}
}

func handle(ctx context.Context, host *sdk.Host, c net.Conn) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		res, err := run(ctx, host, f)
		if err != nil {
			fmt.Fprintf(c, "error: %v\n", err)
			continue
		}
		fmt.Fprintf(c, "%d\n", res.Nanoseconds())
	}
}

func run(ctx context.Context, host *sdk.Host, f []string) (time.Duration, error) {
	if len(f) < 2 {
		return 0, errors.New("usage: broker N | plain N PATH")
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return 0, err
	}
	op := sdk.Operation{Origin: "https://bench.example", Summary: "bench"}
	switch f[0] {
	case "broker":
		start := time.Now()
		for range n {
			if err := host.Consent().Ask(ctx, "", op); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	case "plain":
		if len(f) < 3 {
			return 0, errors.New("plain needs a socket path")
		}
		conn, err := grpc.NewClient("unix://"+f[2], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		cl := pb.NewConsentClient(conn)
		req := &pb.AskRequest{Op: &pb.Operation{Kind: pb.Operation_ORIGIN, Origin: op.Origin, Summary: op.Summary}}
		if _, err := cl.Ask(ctx, req); err != nil { // connect outside the timing
			return 0, err
		}
		start := time.Now()
		for range n {
			if _, err := cl.Ask(ctx, req); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	return 0, fmt.Errorf("unknown command %q", f[0])
}

func main() { sdk.Serve(plugin{}) }
