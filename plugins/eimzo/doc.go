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
// Inside, [Server] serves both listeners, and dispatch.go routes each call
// to the function registered by the file of its E-IMZO plugin (pfx.go,
// tokens.go, pkcs7.go, x509.go, pkcs10.go, app.go, mainfuncs.go), mapping
// errors to E-IMZO's status codes ([Error]). Server is safe for concurrent
// use. Package eimzoclient is a Go client that talks to E-IMZO, or to this
// plugin, the way e-imzo.js does.
//
// Design: README.md in this directory, the home of every protocol choice
// (transport, limits, domain authorisation, API keys, key files, tokens,
// signatures, certificates), the code layout and the benchmark.
package eimzo
