// Command signet-plugin-example is a small Signet plugin: an HTTPS endpoint
// on loopback (TLS from the host's local CA) that lists keys and signs a
// SHA-256 digest with a chosen key. The host asks for consent (and a PIN)
// before each signature; the plugin never sees either.
//
// Endpoints:
//
//	GET  /keys   → [{"uri", "label", "algorithm", "subject"}]
//	POST /sign   {"key": URI, "digest": base64(SHA-256), "request_id": "…",
//	              "summary": "…", "document": base64, "name": "…"}
//	             → {"signature": base64}
//	POST /cms    {"key": URI or "", "document": base64, "name": "…"}
//	             → {"cms": base64(detached CMS), "key": URI}
//
// RSA keys sign PKCS#1 v1.5 over the digest, ECDSA keys return ASN.1
// signatures, Ed25519 keys sign the 32 digest bytes as the message. The
// request's Origin header becomes the operation's origin. /cms signs the
// document as a detached CMS SignedData (sdk/cms) with the named key or,
// when none is named, the key the person picks in the host's dialog.
//
// What the consent dialog shows as checked comes from what this plugin
// computes: the operation's document is the digest it signs, and, when the
// page also sends the document itself (at most MaxDocument bytes), its size
// and SHA-256 computed here — a document whose SHA-256 is not the digest is
// refused. The page's summary and document name are passed as they are:
// the dialog shows them only as what the page says.
package main

import (
	"context"

	"github.com/signet-agent/signet/sdk"
)

// Version of this plugin.
const Version = "0.1.0"

type plugin struct{}

func (plugin) Describe() sdk.Description {
	return sdk.Description{
		Name:      "example",
		Version:   Version,
		Summary:   "HTTPS endpoint that signs SHA-256 digests (example)",
		Listeners: []sdk.ListenerSpec{{Name: "https", Addr: "127.0.0.1:8443", TLS: true}},
	}
}

func (plugin) Serve(ctx context.Context, host *sdk.Host) error {
	// Binds "https" (loopback, TLS from the host), serves, and drains
	// in-flight requests when the host stops the plugin.
	return sdk.ServeHTTP(ctx, host, "https", newHandler(host))
}

func main() { sdk.Serve(plugin{}) }
