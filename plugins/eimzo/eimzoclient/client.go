// Package eimzoclient is a Go client for the E-IMZO WebSocket API
// ("CAPIWS", /service/cryptapi), the one web pages reach through the
// official e-imzo.js. It talks to the real E-IMZO and to Signet's E-IMZO
// plugin alike; Signet's end-to-end tests and benchmarks use it.
//
// # One connection per call
//
// The official client opens a new WebSocket for every call, sends exactly one
// JSON text frame when the socket opens, takes the first message as the
// reply and closes. The server closes with code 1000 right after the reply;
// e-imzo.js since 2023 reports any other close code as an error. Client does
// the same: Call dials, writes one text frame, reads one reply, then waits
// briefly for the server's close frame and records its code in
// Reply.CloseCode. With StrictClose set, a close code other than 1000 (or no
// close frame at all) fails the call with a *CloseError, as e-imzo.js does.
// Replies carry no request id, so a connection serves one request at a
// time; Open keeps one connection for many calls (the server's
// ?keepConnection mode), which is not what e-imzo.js does but is cheaper.
//
// # Timeouts
//
// Connecting is quick or fails (ConnectTimeout, default 5 s, as the vendor's
// Go proxy). Reading the reply is not: create_pkcs7, verify_password and
// the like reply only after the person has typed a password or approved a
// dialog, which may take minutes, so ReadTimeout defaults to 10 minutes.
// The context given to each call can end it sooner.
//
// # Replies
//
// A reply is a flat JSON object: "success" (bool), "status" (1 on success in
// current versions; missing in older ones), "reason" on failure, and the
// function's fields at the top level. The exception is apidoc, which
// returns a bare JSON array. Decoding is tolerant: a missing
// status, unknown fields, a status sent as a string and the bare array are
// all accepted. A failure reply becomes an *Error carrying status and
// reason. Replies larger than MaxReply are refused (the connection is
// closed with 1009).
package eimzoclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Default endpoints of a local E-IMZO: e-imzo.js uses the wss
// one on https pages and the ws one everywhere else.
const (
	DefaultWSSURL = "wss://127.0.0.1:64443/service/cryptapi"
	DefaultWSURL  = "ws://127.0.0.1:64646/service/cryptapi"
)

// Defaults of Client's zero fields.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultReadTimeout    = 10 * time.Minute
	DefaultCloseTimeout   = 5 * time.Second
	// DefaultMaxReply bounds a reply frame: E-IMZO's own frame limit.
	DefaultMaxReply = 64 << 20
	// MaxRequest bounds a request frame (E-IMZO refuses larger ones with
	// close 1009).
	MaxRequest = 64 << 20
)

// CloseNormal is the close code E-IMZO sends after every reply.
const CloseNormal = websocket.CloseNormalClosure

// Client calls one E-IMZO endpoint. The zero value of every field except URL
// is usable. A Client is safe for concurrent use: every Call has its own
// connection.
type Client struct {
	// URL is the WebSocket endpoint, e.g. DefaultWSURL or DefaultWSSURL.
	URL string
	// Origin is sent as the Origin header ("https://portal.example"); E-IMZO
	// identifies the calling domain by it. Empty sends none (non-main
	// functions then fail with -1021).
	Origin string
	// TLSConfig is used for wss:// URLs; nil uses the system roots.
	TLSConfig *tls.Config
	// ConnectTimeout bounds dialling and the WebSocket handshake.
	ConnectTimeout time.Duration
	// ReadTimeout bounds the wait for a reply. Keep it long: the person may
	// be typing a password.
	ReadTimeout time.Duration
	// CloseTimeout bounds the wait for the server's close frame after the
	// reply.
	CloseTimeout time.Duration
	// MaxReply bounds a reply frame; 0 means DefaultMaxReply.
	MaxReply int64
	// StrictClose fails a call whose connection does not end with the
	// server's close 1000, as e-imzo.js ≥ 2023 does, with a *CloseError.
	// The reply is still returned.
	StrictClose bool
	// CloseFirst sends the client's own close frame (without a status
	// code) as soon as the reply has arrived, exactly as e-imzo.js calls
	// socket.close() in onmessage, instead of waiting for the server's.
	// The close code recorded is still the one in the first close frame
	// the server sends, which is what a browser reports in onclose: a
	// server that merely echoes the client's frame yields 1005, not 1000.
	CloseFirst bool
}

// Request is one call: Plugin is empty for the main functions (version,
// apikey, apidoc). Every argument is a string, flags included ("yes").
type Request struct {
	Plugin    string   `json:"plugin,omitempty"`
	Name      string   `json:"name"`
	Arguments []string `json:"arguments,omitempty"`
}

// String is "plugin.name" (or "name" for main functions).
func (r Request) String() string {
	if r.Plugin == "" {
		return r.Name
	}
	return r.Plugin + "." + r.Name
}

// Reply is one decoded reply.
type Reply struct {
	// Success is the reply's "success" field.
	Success bool
	// Status is the "status" field; HasStatus is false when the server sent
	// none (E-IMZO before v6).
	Status    int
	HasStatus bool
	// Reason is the localized failure text.
	Reason string
	// Fields holds every top-level field as sent, for the function's own
	// fields (keyId, pkcs7_64, certificates, …).
	Fields map[string]json.RawMessage
	// Array is set instead of Fields when the reply is a bare JSON array
	// (apidoc); Success is then true.
	Array json.RawMessage
	// Raw is the reply frame.
	Raw []byte
	// CloseCode is the code of the server's close frame after the reply
	// (CloseNormal from E-IMZO), 0 when the connection stays open
	// (Open) or the close frame did not come in time, and
	// websocket.CloseAbnormalClosure (1006) when the connection dropped
	// without one.
	CloseCode int
}

// Err returns the *Error of a failure reply, nil on success.
func (r *Reply) Err() error {
	if r.Success {
		return nil
	}
	return &Error{Status: r.Status, Reason: r.Reason}
}

// String returns the field name as a string ("" when missing or not a
// string).
func (r *Reply) String(name string) string {
	var s string
	if raw, ok := r.Fields[name]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// Decode unmarshals the field name into v.
func (r *Reply) Decode(name string, v any) error {
	raw, ok := r.Fields[name]
	if !ok {
		return fmt.Errorf("eimzo reply has no field %q: %w", name, ErrMalformedReply)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("eimzo reply field %q: %v: %w", name, err, ErrMalformedReply)
	}
	return nil
}

// Error is a failure reply: E-IMZO's status code and its localized reason.
// Status 0 means "function not found" (also a wrong argument count or an
// unparsable request).
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("E-IMZO status %d: %s", e.Status, e.Reason)
}

// StatusOf returns the E-IMZO status of err (an *Error anywhere in its
// chain) and whether there was one.
func StatusOf(err error) (int, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, true
	}
	return 0, false
}

// CloseError is a connection that did not end with the server's close 1000
// (StrictClose), or a close frame instead of a reply. Code is the close
// code; 1006 when the connection ended without a close frame.
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("E-IMZO connection closed with code %d", e.Code)
	}
	return fmt.Sprintf("E-IMZO connection closed with code %d (%s)", e.Code, e.Text)
}

// Sentinel errors.
var (
	// ErrMalformedReply: the reply is not a JSON object or array, or a
	// field has the wrong type.
	ErrMalformedReply = errors.New("eimzo: malformed reply")
	// ErrReplyTooLarge: the reply exceeds MaxReply.
	ErrReplyTooLarge = errors.New("eimzo: reply too large")
	// ErrRequestTooLarge: the request exceeds MaxRequest.
	ErrRequestTooLarge = errors.New("eimzo: request too large")
)

func (c *Client) connectTimeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return c.ConnectTimeout
	}
	return DefaultConnectTimeout
}

func (c *Client) readTimeout() time.Duration {
	if c.ReadTimeout > 0 {
		return c.ReadTimeout
	}
	return DefaultReadTimeout
}

func (c *Client) closeTimeout() time.Duration {
	if c.CloseTimeout > 0 {
		return c.CloseTimeout
	}
	return DefaultCloseTimeout
}

func (c *Client) maxReply() int64 {
	if c.MaxReply > 0 {
		return c.MaxReply
	}
	return DefaultMaxReply
}

// dial opens a WebSocket to rawURL with the Client's Origin and TLS.
func (c *Client) dial(ctx context.Context, rawURL string) (*websocket.Conn, error) {
	d := websocket.Dialer{
		HandshakeTimeout: c.connectTimeout(),
		TLSClientConfig:  c.TLSConfig,
		NetDialContext:   (&net.Dialer{Timeout: c.connectTimeout()}).DialContext,
		ReadBufferSize:   16 << 10,
		WriteBufferSize:  16 << 10,
	}
	hdr := http.Header{}
	if c.Origin != "" {
		hdr.Set("Origin", c.Origin)
	}
	dctx, cancel := context.WithTimeout(ctx, c.connectTimeout())
	defer cancel()
	conn, resp, err := d.DialContext(dctx, rawURL, hdr)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("eimzo: connect %s: %w (HTTP %s)", rawURL, err, resp.Status)
		}
		return nil, fmt.Errorf("eimzo: connect %s: %w", rawURL, err)
	}
	conn.SetReadLimit(c.maxReply())
	return conn, nil
}

// Call sends req over a new connection and returns the decoded reply. A
// failure reply is returned with an *Error; the Reply is returned whenever
// one was read.
func (c *Client) Call(ctx context.Context, req Request) (*Reply, error) {
	frame, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("eimzo: encode %s: %w", req, err)
	}
	r, err := c.Send(ctx, frame)
	if err != nil {
		return r, fmt.Errorf("eimzo %s: %w", req, err)
	}
	return r, nil
}

// Send sends frame as is (one text frame) over a new connection and
// returns the decoded reply. It is Call without the encoding, for requests
// a well-behaved client would not send.
func (c *Client) Send(ctx context.Context, frame []byte) (*Reply, error) {
	if len(frame) > MaxRequest {
		return nil, ErrRequestTooLarge
	}
	conn, err := c.dial(ctx, c.URL)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := closeOnDone(ctx, conn)
	defer stop()
	data, err := roundTrip(conn, frame, c.readTimeout())
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	reply, decErr := decode(data)
	if reply == nil {
		return nil, decErr
	}
	if c.CloseFirst {
		_ = conn.WriteControl(websocket.CloseMessage, []byte{}, time.Now().Add(c.closeTimeout()))
	}
	code, text := awaitClose(conn, c.closeTimeout())
	reply.CloseCode = code
	if decErr != nil {
		return reply, decErr
	}
	if c.StrictClose && code != CloseNormal {
		if code == 0 {
			code = websocket.CloseAbnormalClosure
			text = "no close frame after the reply"
		}
		return reply, &CloseError{Code: code, Text: text}
	}
	return reply, reply.Err()
}

// closeOnDone closes conn when ctx ends before stop is called, which ends
// a blocked read or write.
func closeOnDone(ctx context.Context, conn *websocket.Conn) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			conn.Close()
		case <-done:
		}
	}()
	return func() { close(done) }
}

// ctxErr prefers the context's error when the context ended.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("eimzo: %w", cerr)
	}
	return err
}

// roundTrip writes one text frame and reads the first text frame back.
// Non-text frames are skipped; a close frame instead of a reply is a
// *CloseError.
func roundTrip(conn *websocket.Conn, frame []byte, readTimeout time.Duration) ([]byte, error) {
	_ = conn.SetWriteDeadline(time.Now().Add(readTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		return nil, fmt.Errorf("eimzo: send: %w", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				return nil, ErrReplyTooLarge
			case errors.As(err, &ce):
				return nil, &CloseError{Code: ce.Code, Text: ce.Text}
			}
			return nil, fmt.Errorf("eimzo: read reply: %w", err)
		}
		if mt == websocket.TextMessage {
			return data, nil
		}
	}
}

// awaitClose waits for the server's close frame and returns its code; 0
// when none came within timeout, 1006 when the connection dropped. gorilla
// answers the close frame itself.
func awaitClose(conn *websocket.Conn, timeout time.Duration) (int, string) {
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue // extra frames after the reply are not part of the protocol
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, ""
		}
		return websocket.CloseAbnormalClosure, err.Error()
	}
}

// decode parses a reply frame tolerantly. It returns a nil Reply only when
// the frame is neither a JSON object nor a JSON array.
func decode(data []byte) (*Reply, error) {
	r := &Reply{Raw: data}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if !json.Valid(trimmed) {
			return nil, fmt.Errorf("%w: invalid JSON array", ErrMalformedReply)
		}
		r.Array = json.RawMessage(trimmed)
		r.Success = true
		r.Status, r.HasStatus = 1, false
		return r, nil
	}
	if err := json.Unmarshal(trimmed, &r.Fields); err != nil || r.Fields == nil {
		return nil, fmt.Errorf("%w: not a JSON object: %.200q", ErrMalformedReply, data)
	}
	if raw, ok := r.Fields["success"]; ok {
		b, err := flexBool(raw)
		if err != nil {
			return r, fmt.Errorf("%w: success: %v", ErrMalformedReply, err)
		}
		r.Success = b
	}
	if raw, ok := r.Fields["status"]; ok {
		n, err := flexInt(raw)
		if err != nil {
			return r, fmt.Errorf("%w: status: %v", ErrMalformedReply, err)
		}
		r.Status, r.HasStatus = n, true
	}
	if _, ok := r.Fields["success"]; !ok && r.HasStatus {
		r.Success = r.Status == 1
	}
	if r.Success && !r.HasStatus {
		r.Status = 1
	}
	if raw, ok := r.Fields["reason"]; ok {
		if err := json.Unmarshal(raw, &r.Reason); err != nil {
			r.Reason = string(raw)
		}
	}
	if !r.Success && r.Reason == "" {
		// Some versions named a Java exception class on failure.
		r.Reason = r.String("className")
	}
	return r, nil
}

// flexBool accepts true/false and "true"/"false".
func flexBool(raw json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return false, fmt.Errorf("want a boolean, got %s", raw)
	}
	return strconv.ParseBool(strings.TrimSpace(s))
}

// flexInt accepts a JSON integer or a string holding one.
func flexInt(raw json.RawMessage) (int, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		i, err := strconv.Atoi(n.String())
		if err != nil {
			return 0, fmt.Errorf("want an integer, got %s", raw)
		}
		return i, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("want an integer, got %s", raw)
	}
	return strconv.Atoi(strings.TrimSpace(s))
}

// withKeepConnection adds ?keepConnection to an endpoint URL.
func withKeepConnection(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("eimzo: URL %q: %w", rawURL, err)
	}
	q := u.Query()
	if _, ok := q["keepConnection"]; !ok {
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += "keepConnection"
	}
	return u.String(), nil
}
