package host_test

import "net"

type netListenConfig struct{}

func (netListenConfig) listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
