package eimzoclient

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Conn is one kept-open connection (the endpoint URL with ?keepConnection):
// requests go one after the other over the same socket, each answered by
// exactly one reply. Its methods are safe for concurrent use but serialised
// (replies carry no request id). The official e-imzo.js does not use this
// mode; the benchmark compares it with one connection per call.
type Conn struct {
	c    *Client
	mu   sync.Mutex
	conn *websocket.Conn
	err  error // sticky: a broken connection stays broken
}

// Open dials a kept-open connection.
func (c *Client) Open(ctx context.Context) (*Conn, error) {
	u, err := withKeepConnection(c.URL)
	if err != nil {
		return nil, err
	}
	conn, err := c.dial(ctx, u)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c, conn: conn}, nil
}

// Call sends req and returns its reply (Reply.CloseCode is 0: the
// connection stays open). A failure reply is returned with an *Error. A
// transport error breaks the Conn: later calls return the same error.
func (k *Conn) Call(ctx context.Context, req Request) (*Reply, error) {
	frame, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("eimzo: encode %s: %w", req, err)
	}
	if len(frame) > MaxRequest {
		return nil, ErrRequestTooLarge
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return nil, k.err
	}
	stop := closeOnDone(ctx, k.conn)
	data, err := roundTrip(k.conn, frame, k.c.readTimeout())
	stop()
	if err != nil {
		k.err = ctxErr(ctx, err)
		k.conn.Close()
		return nil, fmt.Errorf("eimzo %s: %w", req, k.err)
	}
	reply, err := decode(data)
	if err != nil {
		return reply, fmt.Errorf("eimzo %s: %w", req, err)
	}
	if err := reply.Err(); err != nil {
		return reply, fmt.Errorf("eimzo %s: %w", req, err)
	}
	return reply, nil
}

// Close ends the connection with a normal close (1000) and waits briefly
// for the server's answer.
func (k *Conn) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return nil
	}
	k.err = fmt.Errorf("eimzo: connection closed")
	deadline := time.Now().Add(k.c.closeTimeout())
	err := k.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseNormal, ""), deadline)
	if err == nil {
		awaitClose(k.conn, k.c.closeTimeout())
	}
	k.conn.Close()
	return nil
}
