package cms

import "encoding/asn1"

// Object identifiers shared by the whole package. Envelope-specific OIDs
// (key transport, key agreement, key wrap, content encryption) live beside
// the envelope code.
var (
	// Content types (RFC 5652 §4–§9, RFC 5083).
	OIDData              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	OIDSignedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	OIDEnvelopedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	OIDDigestedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 5}
	OIDEncryptedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	OIDAuthEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23}
	OIDTSTInfo           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}

	// Digest algorithms.
	OIDDigestSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	OIDDigestSHA224 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	OIDDigestSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	OIDDigestSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	OIDDigestSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	// Public key algorithms (SubjectPublicKeyInfo) and RSA signature schemes.
	OIDPublicKeyRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	OIDPublicKeyECDSA   = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	OIDPublicKeyEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	OIDMGF1             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}

	// Signature algorithms.
	OIDSignatureSHA1WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	OIDSignatureSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	OIDSignatureSHA384WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	OIDSignatureSHA512WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	OIDSignatureSHA224WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 14}
	OIDSignatureRSAPSS          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	OIDSignatureECDSAWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	OIDSignatureECDSAWithSHA224 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 1}
	OIDSignatureECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	OIDSignatureECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	OIDSignatureECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	OIDSignatureEd25519         = asn1.ObjectIdentifier{1, 3, 101, 112}

	// Attributes (RFC 5652 §11, RFC 5035, RFC 3161 / RFC 5126).
	OIDAttributeContentType             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	OIDAttributeMessageDigest           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	OIDAttributeSigningTime             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	OIDAttributeCounterSignature        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 6}
	OIDAttributeSigningCertificate      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	OIDAttributeSigningCertificateV2    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	OIDAttributeSignatureTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}

	// National algorithms: named so that registry entries can be added
	// without touching callers. The built-in registry implements none of
	// them.
	//
	// GOST R 34.10-2012 / GOST R 34.11-2012 (Streebog), RFC 9215 / RFC 7836.
	OIDPublicKeyGOST2012_256   = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 1, 1}
	OIDPublicKeyGOST2012_512   = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 1, 2}
	OIDDigestStreebog256       = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 2, 2}
	OIDDigestStreebog512       = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 2, 3}
	OIDSignatureGOST2012_256   = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 3, 2}
	OIDSignatureGOST2012_512   = asn1.ObjectIdentifier{1, 2, 643, 7, 1, 1, 3, 3}
	OIDPublicKeyGOST2001       = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 19}
	OIDDigestGOST94            = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 9}
	OIDSignatureGOST94With2001 = asn1.ObjectIdentifier{1, 2, 643, 2, 2, 3}

	// Uzbekistan: O'zDSt 1092:2009 (signature) with O'zDSt 1106:2009 (hash),
	// with the identifiers E-IMZO uses for them, and the newer O'zMSt
	// 285/286:2024 identifiers.
	OIDPublicKeyOzDSt1092_2       = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 1}
	OIDOzDSt1092ParamSetA         = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 1, 1}
	OIDOzDSt1092ParamSetB         = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 1, 2}
	OIDOzDSt1092ParamSetC         = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 1, 3}
	OIDSignatureOzDSt1106With1092 = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 2, 2, 2, 2}
	OIDDigestOzDSt1106            = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 3, 2, 1, 1}
	OIDPublicKeyOzDSt1092_1       = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 1, 1}
	OIDSignatureOzDSt1092_1       = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 1, 1, 1, 2, 2, 2}
	OIDPublicKeyOzMSt286          = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 2, 1, 2, 1}
	OIDSignatureOzMSt285With286   = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 2, 1, 2, 2, 2, 2}
	OIDDigestOzMSt285             = asn1.ObjectIdentifier{1, 2, 860, 3, 15, 2, 3, 2, 1, 1}
)
