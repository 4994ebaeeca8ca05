// Package eimzo is the Signet plugin for the E-IMZO WebSocket API
// (Uzbekistan's e-signature agent; contract: shared/protocols/eimzo.md,
// choices: README.md). Web pages written for E-IMZO's official e-imzo.js
// client work unchanged against Signet.
//
// # Shape
//
// Plugin (plugin.go) binds two loopback listeners through the host —
// wss://127.0.0.1:64443 (TLS from the host's local CA) and
// ws://127.0.0.1:64646 — and serves one Server on both. Server
// (server.go) answers the CORS / Private-Network-Access preflight, the
// status page, /apidoc.html, 404 for anything else, and WebSocket upgrades
// on /service/cryptapi. Each connection is a session: the Origin header
// read at the upgrade is the caller (its host part is E-IMZO's "domain").
// A connection carries one request and is closed with 1000 "Done" after the
// reply, unless the URL has ?keepConnection. Limits (limits.go) bound the
// connections, in all and per origin, and the message bytes they hold
// together (a frame budget); an origin gets the large message limit only
// once the host has accepted a call from it.
//
// # Functions
//
// Each file registers the functions of one E-IMZO plugin in the catalogue
// (register, dispatch.go): mainfuncs.go (version, apikey, apidoc),
// pfx.go, tokens.go (ckc, idcard, baikey), pkcs7.go, x509.go, pkcs10.go,
// app.go. dispatch decodes a frame, checks the argument count against the
// declared arguments (only trailing optional arguments may be left out),
// gates non-main functions on the caller's domain (-1021 without one,
// -1022 when the host's origin policy refuses it), runs the function and
// encodes the flat reply. Errors are *Error values with E-IMZO's status
// codes and Russian/Uzbek reasons (errors.go); host errors are mapped by
// their sentinel (sdk.ErrCancelled → -5000, …).
//
// # Keys and the person
//
// The plugin never sees a password, PIN or private key. load_key returns a
// keyId (handles.go): 128 random bits naming a key in the host's key
// store, valid for the domain that loaded it for Config.KeyTTL. Every use
// of a key is a host call carrying the caller's origin, a summary and the
// documents concerned, so the host applies its origin policy, shows the
// consent dialog and asks for the password or PIN in its own window.
//
// # Concurrency
//
// Server is safe for concurrent use. Each connection has its own
// goroutine plus a reader goroutine that cancels the request's context
// when the client goes away (a consent question is then withdrawn). The
// keyId registry and the per-domain settings have their own locks; no lock
// is held across a host call.
package eimzo
