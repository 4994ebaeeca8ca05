// Package cms builds and verifies Cryptographic Message Syntax (RFC 5652)
// messages for Signet and for third-party plugins: SignedData (attached,
// detached, streamed, co-signed) with the CAdES-BES and CAdES-T attributes
// (ESS signingCertificateV2, RFC 3161 signatureTimeStampToken), and
// EnvelopedData / AuthEnvelopedData encrypted to certificates. Private keys
// stay behind [crypto.Signer], [crypto.Decrypter] or [KeyAgreer], so a key
// on a token or in the host's key store signs and decrypts without leaving
// it. Every choice is a per-call option; all functions are safe for
// concurrent use.
//
//	// signer: any crypto.Signer (sdk.KeyService.Signer in a plugin).
//	sig, err := cms.Sign(document, signer, cert, &cms.SignOptions{Detached: true})
//	if err != nil {
//		return err
//	}
//	report, err := cms.Verify(sig, bytes.NewReader(document), &cms.VerifyOptions{Roots: roots})
//	if err != nil {
//		// report (when non-nil) says which signer failed and why
//		return err
//	}
//	fmt.Println(report.Signers[0].Subject, report.Signers[0].ChainStatus)
//
// What a caller needs to know:
//
//   - A nil [SignOptions] means SHA-256, the default algorithm for the key
//     (RSA PKCS#1 v1.5; RSA-PSS when [SignOptions].Algorithm is "RSA-PSS";
//     ECDSA; Ed25519 with SHA-512 as RFC 8419 requires), attached content,
//     signingTime and signingCertificateV2. [DefaultRegistry] returns a copy
//     of the algorithm table to extend; the OID variables
//     ([OIDDigestOzDSt1106], …) name the GOST and O'zDSt identifiers for
//     such entries.
//   - [Sign], [SignDetached], [SignDigest], [CoSign] and [AttachTimestamp]
//     write DER; [SignAttachedStream] writes BER and never holds the
//     content. Every parser accepts BER (as Java and E-IMZO write it) and
//     keeps DER input byte for byte.
//   - [Verify] returns a [Report] whenever the message parsed, and a
//     non-nil error when any signer fails. Without [VerifyOptions].Roots the
//     chain is not checked. A signer's chain is checked at its timestamp's
//     time, else its signingTime, else [VerifyOptions].Time or now.
//   - [TSAClient] fetches RFC 3161 tokens; [AttachTimestamp] and
//     [AttachTimestampBySerial] attach one obtained elsewhere.
//   - [Decrypt] returns [ErrDecryptionFailed] for every cryptographic
//     failure, without detail; errors of the key store that the caller acts
//     on (a [KeyStoreError]: PIN cancelled, token removed, consent denied)
//     and context errors are wrapped so [errors.Is] finds them.
//   - Package cmstest runs an in-process RFC 3161 TSA for tests.
//
// Design (own encoder, algorithms, BER, timestamping, the decryption error
// policy, how it is checked against OpenSSL): docs/cms.md.
package cms
