// Package dstukey is the [hsm.Backend] for Ukrainian DSTU 4145 key
// containers: IIT's Key-6.dat, PKCS#8 keys encrypted with the GOST PBES2
// scheme (*.dat), and PKCS#12 files with such a key (*.pfx, *.p12), see
// sdk/dstu. It scans directories for files that are such containers (by
// their content); a container is a token named by its file URI
// (file:///abs/Key-6.dat) holding one key, file:///abs/Key-6.dat#key.
// Listing never asks for a password; the first Sign does, through
// [Config].PasswordPrompt, and the key is then kept in memory for
// [Config].Login. The certificate of a key is the one its PKCS#12 file
// holds, else the DSTU certificate (*.cer, *.crt, *.pem) in the same
// directory whose public key matches, found once the key is unlocked.
//
//	b, err := dstukey.Open(dstukey.Config{
//		Dirs:           []string{"/media/KEYS"},
//		PasswordPrompt: askPass, // Kind hsm.Password
//		Login:          hsm.LoginPolicy{IdleTimeout: 5 * time.Minute},
//	})
//	if err != nil {
//		return err
//	}
//	defer b.Close() // forgets every unlocked key
//	keys, err := b.Keys(ctx)
//	…
//	sig, err := b.Sign(ctx, keys[0].URI, gost34311Digest, nil) // r‖s little-endian
//
// A wrong password is asked again up to [Config].MaxAttempts (default 3),
// then the error is an *[hsm.PINError] wrapping [hsm.ErrPINIncorrect].
// Files over [dstu.MaxContainer] are not read. Design: docs/dstu4145.md.
package dstukey
