// Package sdk is the one package a Signet plugin imports. A plugin is a
// protocol server (E-IMZO, Cipher, CryptoARM, …) in its own process; the
// Signet host (`signet serve`) starts it, owns every key, PIN and consent
// decision, and offers its services to the plugin over gRPC.
//
// # The contract
//
// A plugin implements Plugin and calls Serve from main:
//
//	type myPlugin struct{}
//
//	func (myPlugin) Describe() sdk.Description {
//		return sdk.Description{
//			Name: "example", Version: "1.0.0",
//			Listeners: []sdk.ListenerSpec{{Name: "https", Addr: "127.0.0.1:8443", TLS: true}},
//		}
//	}
//
//	func (myPlugin) Serve(ctx context.Context, host *sdk.Host) error {
//		// Binds "https" on loopback with a certificate from the host,
//		// serves, and on ctx's end drains in-flight requests (they may be
//		// waiting for the person) within the host's stop timeout.
//		return sdk.ServeHTTP(ctx, host, "https", handler(host))
//	}
//
//	func main() { sdk.Serve(myPlugin{}) }
//
// Lifecycle, as the plugin sees it:
//
//  1. The host starts the binary (named signet-plugin-NAME, found in the
//     plugin directory or named in the configuration; optionally pinned by
//     SHA-256) and performs go-plugin's handshake over stdout. A plugin must
//     never write to stdout itself; stderr ends up in the host's log.
//  2. The host calls Describe, then Start. Start runs Plugin.Serve in a
//     goroutine with a Host and waits until every listener declared in the
//     Description (except Optional ones) is bound with Host.Listen; the
//     plugin is "ready" then, and `signet plugins` shows the bound
//     addresses. A plugin without required listeners is ready at once.
//  3. Serve runs until ctx is cancelled, which happens when the host stops
//     the plugin (SIGTERM to the host, `signet serve` shutting down) or the
//     host process dies. Serve should then stop accepting, let in-flight
//     requests finish within the host's stop timeout, and return;
//     ServeHTTP does exactly that for an HTTP listener, and HTTPServer for
//     several listeners, other timeouts, or WebSockets (OnDrain). If Serve
//     returns an error while the host did not ask it to stop, the process
//     exits and the host restarts it with backoff.
//  4. A plugin whose Description lists URL schemes also implements
//     URLHandler; `signet open cryptoarm://…` reaches its OpenURL.
//
// # Host services
//
// Host gives the plugin: KeyService (list tokens and keys, sign a digest,
// decrypt, generate keys, CSRs, import certificates), Consent (ask the
// person or the policy whether an operation may go ahead), a *slog.Logger
// whose records appear in the host's log under the plugin's name, Listen
// (loopback listeners with TLS certificates from the host's local CA), and
// the plugin's options from the host configuration.
//
// Every key-store call carries an Operation: who asks (web origin or local
// caller), a human summary, the documents concerned (name, size, SHA-256),
// protocol evidence, and a request id. The host uses it for origin policy,
// for the consent dialog and for the journal, and refuses to sign twice for
// the same request id. It asks for consent itself before every use of a key:
// a plugin does not have to call Consent before Sign.
//
// # Grants and HTML summaries
//
// A protocol that asks the person once for several signatures (Cipher's
// accessToken) offers a grant on the first Sign: Operation.GrantUses (this
// signature included) and GrantWithin. If the person accepts, the host
// creates the grant and calls Operation.OnGrant with its id before Sign
// returns; the plugin hands the id to the page. Later calls present it in
// Operation.GrantID and are allowed without a question while uses remain;
// a presented grant that is used up, expired or for another origin or key
// is refused (ErrDenied), not asked about. A protocol that asks for the
// grant before any signature (Cipher's POST /accessToken) calls
// Consent.GrantSign instead, which returns the id of a grant of all
// GrantUses uses. Operation.SummaryHTML carries an
// HTML description (Cipher's metaData): the host keeps only text
// formatting, lists and tables, and refuses more than MaxSummaryHTML bytes
// (ErrInvalidRequest).
//
// # Choosing keys
//
// Some protocols let the page name no key at all, only "whatever key the
// person picks" (E-IMZO's pseudo key ids "ckc", "idcard", "baikey").
// List the candidates with KeyService.Keys and an Operation with ForChoice
// set, then call Consent.ChooseKey with their URIs, a KeyFilter (only keys
// with a certificate, only some algorithms: the host checks it against
// each candidate and shows only those that match) and the operation (the
// Operation you would pass to Sign: origin, summary, documents). The
// person picks one and allows: that is the consent for the origin's first
// use and for ONE signature with the key. ChooseKey returns the key in
// full (certificate and chain) and the id of a one-use grant; present the
// id as Operation.GrantID on the Sign that follows, and the person sees
// one dialog, not two or three:
//
//	list := op
//	list.ForChoice = true // asks a first-use origin nothing; keys come Withheld
//	keys, err := host.KeyService().Keys(ctx, list)
//	… // candidates: the URIs of keys with HasPrivateKey and CanSign
//	choice, err := host.Consent().ChooseKey(ctx, candidates, sdk.KeyFilter{Certificate: true}, op)
//	if err != nil {
//		return err // ErrDenied, ErrTimeout, ErrCancelled, ErrKeyNotFound, …
//	}
//	op.GrantID = choice.GrantID
//	signer := host.KeyService().Signer(ctx, choice.Key, op) // choice.Key.Certificate, .Chain
//
// A listing for a choice by a web origin the person has not allowed yet
// returns each key's URI and capabilities only (Key.Withheld: no label,
// id, public key, certificate or chain) — never show it to the page. An
// allowed origin gets the keys in full; an origin the administrator
// denies, or the person refused, gets nothing (ErrDenied).
//
// The grant covers only that key, origin and plugin, and only a Sign that
// presents it, within ChooseKeyGrantTTL; a second Sign with it is refused.
// The host's origin policy applies first, as for Sign; candidates the host
// does not know or the filter rejects are not shown (none left:
// ErrKeyNotFound, or ErrDenied for an origin not allowed yet). With nobody
// to ask, an unattended rule allowing the signature picks the only
// candidate and GrantID is empty (the rule then decides the Sign); several
// candidates are refused. An empty GrantID is also what a local caller (no
// web origin) gets. plugintest's default consent picks the first
// candidate.
//
// One signature is one cross-process call: hash documents in the plugin and
// send only the digest. KeyService.Signer gives a crypto.Signer (for sdk/cms,
// crypto/x509, TLS) that does exactly that.
//
// # Which calls may ask the person
//
// The host decides every use of a key itself, and may put a question to
// the person (in its consent dialog) during these calls, and no others:
//
//   - KeyService.Sign, and the Sign of a KeyService.Signer: a signature
//     question (with the first-use choices for a web origin the person has
//     not allowed yet), unless a grant the call presents
//     (Operation.GrantID, also the one-use grant of a ChooseKey) or an
//     unattended rule of the administrator decides it.
//   - KeyService.Decrypt, GenerateKey, CreateCSR and ImportCertificate: a
//     question for that operation, unless an unattended rule decides it.
//   - Consent.ChooseKey: one question in which the person picks the key
//     and allows one signature — and, for a first-use origin, the origin
//     too — unless an unattended rule picks the only candidate.
//     Consent.GrantSign: the person accepts or refuses the grant.
//     Consent.Ask: the first-use question of a web origin the person has
//     not allowed yet.
//   - KeyService.Tokens, Keys and Key: only the first-use question of a web
//     origin the person has not allowed yet — except Keys and Key with
//     Operation.ForChoice, which never ask (the keys then come withheld);
//     listing is otherwise decided by the origin's policy alone.
//     KeyService.OpenContainer asks as Keys does; CloseContainer and
//     UnlockContainer never ask (a container's password is asked, like a
//     PFX file's, when its key is first used).
//
// So the list (ForChoice) → ChooseKey → Sign path asks a first-use origin
// exactly one question, and an allowed origin one too.
// Besides, any call that uses a private key (Sign, Decrypt, CreateCSR,
// GenerateKey, ImportCertificate) may make the host ask for the token's
// PIN or the PFX password, in the same dialog. A local caller (Operation
// without Origin) is never asked the first-use question. An origin the
// administrator denies, or the person refused for good, is refused
// without a question by every call. Listen, TLSConfig, Logger and Option
// never ask.
//
// A call that asks blocks until the person answers or the question times
// out (two minutes by default): do not put shorter deadlines on such
// requests. Cancelling the call's context withdraws the question
// (ErrCancelled); a refusal is ErrDenied, a question nobody answered
// ErrTimeout.
//
// # Secrets and errors
//
// A plugin never sees a PIN, a password or private key material: the host
// asks for them in its own consent UI. Failures come back as errors that
// match this package's sentinel errors with errors.Is (ErrPINIncorrect,
// ErrDenied, ErrCancelled, …); they are the very same values the host's key
// store uses, so a plugin maps them to its protocol's own codes. A PIN error
// is a *PINError carrying the tries left. ErrUnavailable means the host is
// gone or shutting down.
//
// # Processes
//
// The plugin exits when the host dies, three ways: the host asks the kernel
// to send SIGTERM when it exits (Linux); the host passes a lifeline pipe
// whose write end only it holds, and Serve exits when the pipe reads EOF;
// and Serve exits if its parent process changes. (Standard input is not
// used for this: go-plugin hands plugins the host's own stdin.) SIGTERM to the plugin cancels Serve's
// context, as a Stop from the host does; SIGINT is ignored (Ctrl-C in the
// agent's terminal reaches the plugins too, and the agent stops them).
//
// # Versions
//
// ProtocolVersion is the version of the host↔plugin protocol this SDK
// speaks. A host refuses, with a message naming both versions, a plugin
// built against an SDK with another protocol version.
//
// # Testing
//
// Package sdk/plugintest starts a real host in the test process with a
// SoftHSM token, builds and runs the plugin under test as a real process,
// and lets the test choose how consent answers (allow, deny, pick a key,
// accept grants) and read the questions the host asked. It needs cgo and
// SoftHSM2; the plugin itself needs neither.
package sdk
