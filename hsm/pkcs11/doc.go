// Package pkcs11 is Signet's PKCS#11 backend: tokens and smart cards behind
// a PKCS#11 module (SoftHSM, OpenSC, Rutoken, JaCarta, eToken, Avtor, …),
// as an hsm.Backend with every optional capability (Decrypter,
// KeyGenerator, CertificateImporter, Deleter, Watcher, Locker).
//
// # Why not crypto11
//
// Issue 2 asked for github.com/ThalesGroup/crypto11 for the RSA and ECDSA
// signers. After reading crypto11 v1.5.0 (crypto11.go, Configure and Close)
// we do not use it; this package is a thin layer of its own over
// github.com/miekg/pkcs11 v1.1.2:
//
//   - crypto11.Configure calls C_Initialize itself and fails on
//     CKR_CRYPTOKI_ALREADY_INITIALIZED, so it cannot share a module with the
//     miekg context Signet needs anyway for enumeration (which must exist
//     before any token is present).
//   - Its last Close calls C_Finalize, which ends every session and login of
//     the whole process on that module.
//   - It logs in once, at Configure, with a PIN string: no lazy PIN prompt,
//     no PIN state (final try, locked), no PIN pad, no context-specific login.
//   - A context is bound to one slot, with no recovery after the token is
//     removed and re-inserted (in a new slot).
//   - Its session pool waits are not context-aware, and its default pool
//     opens up to 1024 sessions; it cannot load Ed25519 keys, and its
//     FindAll* fails outright when one is on the token.
//
// # Modules, tokens, sessions
//
// A module (library) is loaded and C_Initialize'd once per process
// (CKR_CRYPTOKI_ALREADY_INITIALIZED is fine) and never finalised, because
// C_Initialize and login state are per process: several Backends, and other
// code in the process, may share it. A Backend knows every token it has seen
// by identity (label, serial, manufacturer, model) — never by slot id, which
// changes on re-insertion. Each insertion of a token gets a fresh, small
// pool of sessions (Config.MaxSessions, default 4, because real cards allow
// few). Callers wait for a session first come, first served, and stop
// waiting when their context ends. A pool keeps its sessions open while the
// token is present: PKCS#11 logs a token out when its last session closes.
//
// # PIN and login
//
// Login is lazy: the first operation that needs it asks Config.PINPrompt,
// showing the token, the key, and the token's PIN state. The backend never
// tries a PIN when the token reports final try unless the prompt confirmed
// it (else hsm.ErrFinalTry), never prompts when the PIN is locked
// (hsm.ErrPINLocked), and logs in with no PIN on a token with a protected
// authentication path (PIN pad). A refused PIN gives a *hsm.PINError with
// the PIN state read again from the token; the prompt is asked again (up to
// three times per operation) with Attempt and LastError set. Keys with
// CKA_ALWAYS_AUTHENTICATE get a context-specific login (CKU_CONTEXT_SPECIFIC)
// after C_SignInit/C_DecryptInit, before each use. A login is kept per token
// under Config.Login (idle timeout), dropped when the token goes away, and
// ended by Lock. PINs travel as byte slices wiped after use; they are passed
// to miekg/pkcs11 as a string view of that slice (no Go copy), but miekg
// copies the PIN into C memory for the call and frees it without wiping —
// a limitation of that library.
//
// # Tokens come and go
//
// Watch polls C_GetSlotList every Config.PollInterval. C_WaitForSlotEvent
// is not used: SoftHSM does not implement it, miekg/pkcs11 drops its return
// value (so "no event" and "not supported" look like an event on slot 0),
// and blocking in it ties a thread up inside the module. After
// CKR_DEVICE_REMOVED,
// CKR_TOKEN_NOT_PRESENT, CKR_SLOT_ID_INVALID, or after any failure when the
// token no longer answers C_GetTokenInfo in its slot, the token's sessions,
// login and object handles are dropped and the slot list is read again; the
// request fails with hsm.ErrTokenRemoved naming the token. After
// CKR_SESSION_HANDLE_INVALID the same happens and the request is retried
// once. A token that comes back (in any slot) gets a fresh pool, and the
// next request works without a restart.
//
// SoftHSM 2.6 builds its slot list at C_Initialize: a token created, or
// re-created, after that is not visible to the process until the module is
// re-initialised. Hardware modules (OpenSC, vendor modules) report
// insertions through C_GetSlotList.
//
// # Objects
//
// Private keys, public keys and certificates are paired by CKA_ID. An
// object that cannot be read or parsed is skipped and reported by Problems;
// it never breaks a listing. Private keys are private objects, invisible
// before login, so a listing made before login shows a public key as its
// private key, and key URIs take their label from the public key or
// certificate: the same key has the same URI logged in or not. Ed25519
// (PKCS#11 3.0: CKK_EC_EDWARDS, CKM_EDDSA, defined here because miekg
// lacks them) accepts CKA_EC_PARAMS as the OID 1.3.101.112 or the
// PrintableString "edwards25519", and CKA_EC_POINT raw or DER-wrapped.
//
// A key's certificate is the certificate with its CKA_ID whose public key
// is the key's (tokens may file CA certificates under the key's CKA_ID
// too). Its chain (KeyInfo.Chain) is built with the listing from every
// certificate on the token, issuer by issuer with signature checks
// (sdk/certs.Issuers): the intermediates and, when the token holds it, the
// root. Signing reads no more objects for it. A token that holds only the
// key's certificate gives an empty chain.
//
// # Listing cache
//
// SoftHSM's file store re-reads a token's files on every C_FindObjectsInit,
// C_GetAttributeValue and C_GetTokenInfo, and a listing makes about a dozen
// such calls per object; reading every object's attributes for every
// listing made the key listings and lookups of each signing request cost
// far more than the signature. So each token insertion keeps its last
// listing (keys, certificates parsed, chains, and the objects skipped) for
// Config.ListingTTL (default PollInterval, 2s), and Keys reads the slot list
// at most once per ListingTTL (Watch's polls count). Key (what hsm.Store.Key
// uses) reads only the tokens the URI names, from the same cache. Callers
// get copies of the key slices; certificates and public keys are shared and
// never changed. A token is listed by one caller at a time: concurrent
// requests that find its listing expired wait for that one listing.
//
// A cached listing is dropped, and the next listing reads the token:
//
//   - when a slot scan (Watch, Tokens, a Keys after ListingTTL, a lookup
//     that names an unknown token) sees the token removed, moved to another
//     slot, or back: each insertion has its own generation, and a
//     re-created token (new serial) is another token;
//   - when an operation finds the token gone or its sessions invalid
//     (CKR_DEVICE_REMOVED, CKR_SESSION_HANDLE_INVALID…);
//   - after Signet changes the token's objects (GenerateKey,
//     ImportCertificate, Delete — even when they fail half way);
//   - when the login state changes (log in, Lock, idle logout, a logout
//     noticed): a listing made before login shows public keys standing for
//     private keys, and one made logged in shows private objects;
//   - ListingTTL after the listing started.
//
// A listing that raced with one of these events is not kept. Also, a Sign
// or Decrypt that finds its key gone from the token drops the token's
// listing, and Key, when the key is missing from a cached listing, lists
// the token once more before answering hsm.ErrKeyNotFound.
//
// What can be stale, and for how long: changes another process
// (pkcs11-tool, another application using the same token) makes to the
// objects of a present token show up in Keys up to ListingTTL late (a key
// added elsewhere is found by Key at once; a key deleted elsewhere is still
// returned by Key until the listing expires or an operation on it fails),
// because PKCS#11 has no cheap change signal (C_GetTokenInfo has no object
// counter, and C_FindObjects is itself the expensive call). A removal
// between two slot scans also shows late, up to ListingTTL, unless an
// operation notices it first. This is acceptable because the listing is a
// description, not an authorisation: operations never use it. Sign and
// Decrypt find their key on the token (C_FindObjects, then the object
// handle is reused for that insertion); a key another process deleted fails
// with hsm.ErrKeyNotFound (the stale handle gives
// CKR_OBJECT_HANDLE_INVALID, the key is looked up again and is not there),
// a removed token with hsm.ErrTokenRemoved, and a key added elsewhere signs
// at once even while Keys does not list it yet. ListingTTL < 0 turns the
// cache off.
//
// A signature with a key the backend already resolved in this insertion of
// its token makes no slot, token or object calls: a session from the pool,
// C_SignInit and C_Sign. Presence is checked (C_GetTokenInfo) only after
// an error, and by Watch's polls.
//
// # Errors
//
// PKCS#11 return values stay in the error chain, so messages keep their
// names (CKR_PIN_INCORRECT…), and are mapped to hsm's sentinel errors for
// errors.Is. A PIN never appears in an error or log.
//
// # Test seam
//
// Every module call goes through the small ckAPI interface, which *p11.Ctx
// implements; production code uses the real context. Tests wrap it to
// inject faults SoftHSM cannot produce (CKR_DEVICE_REMOVED mid-sign, final
// try, locked, PIN pad).
package pkcs11
