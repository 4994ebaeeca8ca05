// Package pfx is the hsm backend for PFX/PKCS#12 key files, including the
// E-IMZO layout (key files in disk roots and their DSKEYS folders).
//
// # Naming
//
// A file is a token, named by its RFC 8089 URI (file:///abs/path.pfx). A
// key is an entry of the file, named file:///abs/path.pfx#alias with the
// alias percent-encoded. The alias is the key bag's friendlyName (E-IMZO's
// "cn=…,serialnumber=…,validfrom=…" alias), else the hex of its localKeyId,
// else "key<N>" (its position). Only attributes readable without the
// password are used, so a key's URI is the same locked or unlocked and
// across restarts. A URI without an alias names the file's only key.
//
// # Listing without a password
//
// Listing reads the file's unencrypted parts itself (the structure, key-bag
// attributes, unencrypted certificates) and then silently tries the empty
// password with go-pkcs12: many files keep their certificates encrypted
// under "" or have no password at all. When that fails, the file's
// certificates are usually in an encrypted bag (OpenSSL, Windows and
// go-pkcs12 all do this), and the entry is listed with HasPrivateKey set,
// its alias, and no certificate, algorithm or public key until the first
// unlock. The listing never prompts, and never fails because of one file:
// unreadable files and missing directories are skipped and described by
// Problems (as the pkcs11 backend does). A password-protected file that
// holds certificates only, all encrypted, is indistinguishable from one
// whose key bags are encrypted and is listed with the "key0" placeholder
// until unlocked. After an unlock the certificates stay
// known (they are public) even when the key is forgotten again. Files whose
// key bags are themselves encrypted show one entry "key0" until unlocked.
//
// # Unlocking and secrets
//
// The first Sign or Decrypt asks for the password through
// Config.PasswordPrompt (Kind hsm.Password), up to MaxAttempts times; a
// wrong password is reported to the next prompt, and after the last attempt
// returned, as an *hsm.PINError (ErrPINIncorrect). A cancelled prompt
// returns its error (wrapping hsm.ErrCancelled). The decrypted keys live in
// memory only: dropped after Login.IdleTimeout without use, on Lock, on
// Close, and when the file changes on disk; dropped keys are overwritten
// (best effort, see wipeKey). Passwords are wiped after use and never
// appear in errors.
//
// # Concurrency
//
// Backend is safe for concurrent use. Each file has a one-slot semaphore
// that serialises its unlock (one prompt for many concurrent signers; others
// wait, honouring ctx); signing with an unlocked key runs in parallel. A key
// in use is never wiped under a signer: it is wiped when its last user
// returns.
//
// # Limits
//
// Files over MaxFileSize (1 MiB) are refused. KDF iteration counts over one
// million are refused before any password is tried. go-pkcs12 reads
// DER-encoded files only (BER files from some Java tools are reported as
// unreadable); a file with several keys is read with go-pkcs12's ToPEM,
// which handles RSA and ECDSA keys only.
package pfx
