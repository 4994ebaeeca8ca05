// Package pkcs11 is Signet's PKCS#11 backend: the tokens and smart cards
// behind one PKCS#11 module (SoftHSM, OpenSC, Rutoken, JaCarta, eToken,
// Avtor, …) as an [hsm.Backend] with every optional capability (Decrypter,
// KeyGenerator, CertificateImporter, Deleter, Watcher, Locker). It is a thin
// layer over github.com/miekg/pkcs11: a small session pool per token
// insertion, lazy login through [Config].PINPrompt, and recovery when a
// token is removed and re-inserted. Tokens and keys are named by RFC 7512
// pkcs11: URIs built from their identity, never from slot numbers.
//
//	b, err := pkcs11.Open(pkcs11.Config{
//		Module:    "/usr/lib/softhsm/libsofthsm2.so",
//		PINPrompt: askPIN, // shows the token, key and PIN state; returns the PIN
//		Login:     hsm.LoginPolicy{IdleTimeout: 5 * time.Minute},
//	})
//	if err != nil {
//		return err
//	}
//	defer b.Close()
//	keys, err := b.Keys(ctx) // never prompts
//	…
//	digest := sha256.Sum256(msg)
//	sig, err := b.Sign(ctx, keys[0].URI, digest[:], crypto.SHA256)
//	if errors.Is(err, hsm.ErrTokenRemoved) {
//		// ask the person to insert the token; no restart is needed
//	}
//
// What a caller needs to know:
//
//   - A module is initialised once per process and never finalised, so
//     several Backends (and other code) may share it; [Backend.Close] ends
//     this backend's sessions only.
//   - The prompt is asked only when an operation needs a login, up to three
//     times per operation. It must set [hsm.PINResponse].ConfirmFinalTry
//     when the request's state says final try, or the backend refuses with
//     [hsm.ErrFinalTry]; a locked PIN gives [hsm.ErrPINLocked] without a
//     prompt; a token with a PIN pad logs in without asking.
//   - At most [Config].MaxSessions (default 4) operations run on one token
//     at a time; the others wait in order and give up when their context
//     ends.
//   - [Backend.Keys] and [Backend.Key] answer from a listing cached for
//     [Config].ListingTTL (default 2s): objects another process adds or
//     deletes may show that much late. Operations never use the cached
//     listing: Sign and Decrypt find their key on the token.
//   - A key's certificate is the one filed under its CKA_ID whose public
//     key is the key's; its chain ([hsm.KeyInfo].Chain) is built with the
//     listing from the token's other certificates, issuer by issuer with
//     signature checks: the intermediates and, when the token holds it,
//     the root.
//   - Errors keep the PKCS#11 return value's name (CKR_PIN_INCORRECT, …)
//     and map to hsm's sentinels for [errors.Is]. A PIN never appears in an
//     error or a log.
//
// Design (sessions, login, removal, the listing cache): docs/key-store.md.
// Why this is not built on crypto11: docs/why-not-crypto11.md.
package pkcs11
