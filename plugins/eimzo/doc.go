// Package eimzo is the Signet plugin for the E-IMZO WebSocket API, the
// protocol of Uzbekistan's e-signature agent: web pages written for
// E-IMZO's official e-imzo.js client work unchanged against Signet, with any
// PKCS#11 token or PFX key file the host's key store holds. The plugin binds
// two loopback listeners through the host, wss://127.0.0.1:64443 (TLS from
// the host's local CA) and ws://127.0.0.1:64646, serves E-IMZO's functions
// on /service/cryptapi, and turns each call into host calls that carry the
// page's Origin, so the host applies its origin policy, asks the person for
// consent and the PIN or password in its own window, and journals the
// decision. The plugin never sees a password, PIN or private key.
//
// The plugin binary is this package served by the SDK (cmd/signet-plugin-eimzo):
//
//	func main() { sdk.Serve(eimzo.Plugin{}) }
//
// and the agent runs it from its configuration:
//
//	plugins:
//	  - name: eimzo
//	    path: signet-plugin-eimzo
//	    # options: key_ttl, token_key, keygen_token, max_connections, …
//
// Inside, [Server] serves both listeners; each connection carries one
// request and is closed with 1000 "Done" after the reply unless the URL has
// ?keepConnection, and [Limits] bound the connections and the bytes they
// hold. Each file registers the functions of one E-IMZO plugin (pfx.go,
// tokens.go, pkcs7.go, x509.go, pkcs10.go, app.go; version, apikey and
// apidoc in mainfuncs.go) with the dispatcher (dispatch.go), which checks
// arguments, gates non-main functions on the caller's domain, and maps
// errors to E-IMZO's status codes ([Error], errors.go). A pfx.load_key keyId
// is 128 random bits naming a key in the host's store, valid only for the
// domain that loaded it. Server is safe for concurrent use, and no lock is
// held across a host call. Package eimzoclient is a Go client that talks to
// E-IMZO (or this plugin) the way e-imzo.js does.
//
// Protocol choices (transport, limits, domain authorisation, API keys, key
// files, tokens, signatures, certificates) and the benchmark: README.md in
// this directory.
package eimzo
