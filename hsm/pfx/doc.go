// Package pfx is the [hsm.Backend] for PFX/PKCS#12 key files, including
// E-IMZO's layout (key files in every disk root and its DSKEYS folder). A
// file is a token named by its RFC 8089 URI (file:///abs/path.pfx, see
// [FileURI]); a key is an entry of the file, file:///abs/path.pfx#alias
// (see [KeyURI], [ParseURI]). Listing never asks for a password; the first
// Sign or Decrypt does, through [Config].PasswordPrompt, and the decrypted
// key is then kept in memory for [Config].Login.
//
//	b, err := pfx.Open(pfx.Config{
//		Dirs:           []string{"/media/DSKEYS"},
//		EIMZO:          true,    // also every disk root and its DSKEYS folder
//		PasswordPrompt: askPass, // Kind hsm.Password
//		Login:          hsm.LoginPolicy{IdleTimeout: 5 * time.Minute},
//	})
//	if err != nil {
//		return err
//	}
//	defer b.Close() // forgets and wipes every unlocked key
//	keys, err := b.Keys(ctx)
//	…
//	sig, err := b.Sign(ctx, keys[0].URI, digest[:], crypto.SHA256)
//
// What a caller needs to know:
//
//   - The alias in a key's URI is the key bag's friendlyName (E-IMZO's
//     "cn=…,serialnumber=…,validfrom=…"), else the hex of its localKeyId,
//     else "key<N>". Only what is readable without the password is used, so
//     a URI is the same locked or unlocked. A URI without an alias names the
//     file's only key.
//   - Before the first unlock, an entry whose certificates are encrypted is
//     listed with HasPrivateKey set and no certificate, algorithm or public
//     key; a file whose key bags are encrypted shows one entry "key0".
//   - A wrong password is asked again, up to [Config].MaxAttempts (default
//     3); then the error is an *[hsm.PINError] wrapping
//     [hsm.ErrPINIncorrect]. A dismissed prompt wraps [hsm.ErrCancelled].
//   - Unlocked keys are dropped (and overwritten) after the idle timeout,
//     on [Backend.Lock], on Close and when the file changes on disk.
//   - A file that cannot be read never fails a listing; it is described by
//     [Backend.Problems]. Files over [MaxFileSize] ([ErrTooLarge]) and KDF
//     iteration counts over one million are refused. Only DER files are
//     read; a file with several keys only with RSA, ECDSA, GOST or O'zDSt
//     keys.
//   - GOST R 34.10-2001/2012 and O'zDSt 1092 keys are read in every
//     protection OpenSSL's GOST engine and JDK or BouncyCastle key stores
//     use (PBES2 with GOST 28147-89, Kuznyechik or Magma CTR-ACPKM, AES;
//     PBKDF2 with HMAC-Streebog; the GOST PKCS#12 MAC; PKCS#12 3DES/RC2),
//     and sign a digest of the key's own hash with crypto.Hash(0).
//     [EncodeTC26] writes such a file in the TC26 profile.
//   - Backend is safe for concurrent use: concurrent signers on a locked
//     file cause one prompt.
//
// Design: docs/key-store.md ("PFX files"); the GOST and O'zDSt files:
// docs/gost.md ("Symmetric primitives and key containers").
package pfx
