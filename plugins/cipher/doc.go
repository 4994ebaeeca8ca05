// Package cipher is the Signet plugin that speaks the REST API of the Cipher
// local crypto service ("Агент ЄСКО"): HTTPS on 127.0.0.1:9091 and :9090,
// base path /api/v1, sessions ("tickets") that hold the data, options, key
// store and results of one operation, multi-use consent grants
// (POST /accessToken), CMS/CAdES signing, verification, timestamps and
// encryption. Keys stay in the host: the plugin hashes documents as they are
// uploaded (to a private temporary file) and sends only digests to the host.
//
// Run it as the plugin "cipher" of `signet serve`; test it with
// sdk/plugintest:
//
//	h := plugintest.Start(t, "github.com/signet-agent/signet/plugins/cipher/cmd/signet-plugin-cipher", nil)
//	resp, err := h.HTTPClient().Get("https://" + h.Addr("https") + "/api/v1/status")
//
// The choices made where the vendor documentation is silent are listed in
// the package's README.md.
package cipher
