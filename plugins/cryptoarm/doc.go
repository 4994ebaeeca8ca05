// Package cryptoarm is the Signet plugin for CryptoARM's cryptoarm:// links:
// portals written for CryptoARM (КриптоАРМ) work unchanged against Signet.
// The person clicks a link; the desktop runs `signet open URL`; the agent
// hands the link to this plugin (OpenURL), which fetches the job from the
// portal with JSON-RPC 2.0 over HTTPS, asks the person once — through the
// host's consent dialog — whether to trust the portal and whether to run the
// job, has the host sign, decrypt or create keys, and posts the results back
// as JSON-RPC notifications. Local jobs (a JSON file or inline JSON in the
// link) write their results into a folder instead.
//
//	link, err := cryptoarm.ParseLink("cryptoarm://signAndEncrypt/https://portal.example/json?id=42", cryptoarm.LinkPolicy{})
//	// link.Command == "signAndEncrypt", link.Service == "https://portal.example/json?id=42", link.ID == "42"
//
// The binary is cmd/signet-plugin-cryptoarm. Every protocol choice is in
// README.md in this directory.
package cryptoarm
