package cms

import (
	"bytes"
	"crypto"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

// fuzzSeeds returns DER and BER messages of the shapes we meet: attached,
// detached, co-signed, streamed (indefinite, chunked), Java-style BER.
func fuzzSeeds(f *testing.F) (seeds [][]byte, content []byte) {
	content = []byte("fuzz seed content")
	ec := testKey(f, softhsmtest.ECP256)
	// No RSA here: key generation under fuzzing instrumentation is very
	// slow, and every fuzz worker builds the seeds again.
	rsaK := testKey(f, softhsmtest.Ed25519)
	att, err := Sign(content, ec.Key, ec.Certificate, &SignOptions{Chain: ec.Chain})
	require.NoError(f, err)
	det, _ := Sign(content, rsaK.Key, rsaK.Certificate, &SignOptions{Detached: true})
	co, _ := CoSign(att, nil, ec.Key, ec.Certificate, &SignOptions{Digest: crypto.SHA384})
	var stream bytes.Buffer
	SignAttachedStream(&stream, bytes.NewReader(content), -1, ec.Key, ec.Certificate, nil)
	seeds = [][]byte{att, det, co, stream.Bytes(), toBER(f, att, 5, false), toBER(f, co, 1000, true),
		{}, {0x30, 0x80, 0x00, 0x00}, {0x24, 0x80, 0x04, 0x01, 0x61, 0x00, 0x00}, bytes.Repeat([]byte{0x30, 0x80}, 80)}
	return seeds, content
}

// FuzzParse: the BER normaliser and the SignedData parser never panic;
// normalisation is idempotent and yields DER the parser accepts; parsed
// messages re-encode to something that parses again; ParseSigners accepts
// and refuses what ParseSignedData does, with the same signer infos and
// no parsed certificates.
func FuzzParse(f *testing.F) {
	seeds, _ := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if der, err := normalizeBER(data); err == nil {
			again, err := normalizeBER(der)
			require.NoError(t, err, "normalisation not idempotent")
			require.Equal(t, der, again, "normalisation not idempotent")
		}
		sd, err := ParseSignedData(data)
		lite, liteErr := ParseSigners(data)
		require.Equal(t, err == nil, liteErr == nil, "ParseSigners and ParseSignedData disagree: %v / %v", liteErr, err)
		if err != nil {
			return
		}
		require.Len(t, lite.Signers, len(sd.Signers), "ParseSigners")
		require.Equal(t, sd.RawCertificates, lite.RawCertificates, "ParseSigners")
		require.Empty(t, lite.Certificates, "ParseSigners parsed certificates")
		for i, s := range lite.Signers {
			require.Equal(t, sd.Signers[i].Raw, s.Raw, "ParseSigners: signer %d", i)
			require.Equal(t, sd.Signers[i].Signature, s.Signature, "ParseSigners: signer %d", i)
			require.Nil(t, s.Certificate, "ParseSigners: signer %d", i)
		}
		sis := make([][]byte, len(sd.Signers))
		for i, s := range sd.Signers {
			sis[i] = s.Raw
			_ = s.SignatureHex()
			_ = s.SerialHex()
			s.SigningTime()
			s.TimestampToken()
		}
		out, err := sd.reencode(sd.rawDigestAlgs, sd.RawCertificates, sis)
		if err != nil {
			return
		}
		sd2, err := ParseSignedData(out)
		require.NoError(t, err, "re-encoded message does not parse")
		require.Len(t, sd2.Signers, len(sd.Signers), "re-encoding changed the message")
		require.Equal(t, sd.Content, sd2.Content, "re-encoding changed the message")
	})
}

// FuzzVerify: verification of arbitrary input (attached or with detached
// content) never panics, and anything that verifies has valid signers.
func FuzzVerify(f *testing.F) {
	seeds, content := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	opts := &VerifyOptions{Roots: testPKI(f).Roots()}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(data, nil, opts)
		if err == nil {
			require.True(t, rep.Valid(), "no error but report not valid")
		}
		rep, err = Verify(data, bytes.NewReader(content), opts)
		if err == nil {
			require.True(t, rep.Valid(), "no error but report not valid")
		}
		if err == nil {
			for _, s := range rep.Signers {
				require.True(t, s.SignatureOK, "valid report with failed checks")
				require.True(t, s.ContentDigestOK, "valid report with failed checks")
			}
		}
	})
}
