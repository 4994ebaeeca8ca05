package cli

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/limitread"
	"github.com/signet-agent/signet/sdk/certs"
	"github.com/signet-agent/signet/sdk/cms"
	"github.com/signet-agent/signet/sdk/gost"
)

// gostKey is ki's public key when it is a GOST or O'zDSt key (from the
// listing, else from its certificate), or nil.
func gostKey(ki hsm.KeyInfo) *gost.PublicKey {
	if k, ok := ki.PublicKey.(*gost.PublicKey); ok {
		return k
	}
	if k, ok := certs.PublicKey(ki.Certificate).(*gost.PublicKey); ok {
		return k
	}
	return nil
}

// maxEd25519Message bounds what sign reads into memory for Ed25519, which
// signs the message itself rather than a digest (raw mode only).
const maxEd25519Message = 64 << 20

// maxAttachedInMemory is the largest content an attached signature is
// built from in memory (DER output). Larger content is streamed with
// cms.SignAttachedStream, whose output is BER (indefinite-length wrappers),
// which OpenSSL and sdk/cms read.
const maxAttachedInMemory = 64 << 20

// progressMin is the input size from which sign shows progress on a
// terminal.
const progressMin = 16 << 20

type signFlags struct {
	keyURI, in, out, hashName, chainFile string
	pss, raw, detached, pem, noTime      bool
	hashChanged                          bool // --hash given explicitly
}

func newSignCmd(a *App) *cobra.Command {
	var fl signFlags
	c := &cobra.Command{
		Use:   "sign --key URI [--in FILE] [--out FILE] [--detached] [--pem]",
		Short: "Sign a file with a key, producing CMS (PKCS#7) SignedData",
		Long: "Sign FILE (default: standard input) with the key named by URI and write a CMS\n" +
			"SignedData (default: standard output) with the key's certificate, its chain when\n" +
			"the store has it, and the signed attributes contentType, messageDigest,\n" +
			"signingTime (unless --no-signing-time) and ESS signingCertificateV2.\n" +
			"The content is embedded unless --detached. Output is DER unless --pem; an attached\n" +
			"signature over more than 64 MiB is streamed and written as BER (indefinite\n" +
			"lengths), which OpenSSL reads. Detached signing hashes the input as it reads it.\n" +
			"Verify with e.g. `openssl cms -verify -binary -inform DER -in out.p7s -CAfile root.pem\n" +
			"[-content FILE]`.\n\n" +
			"--raw writes a bare signature instead: PKCS#1 v1.5 or PSS for RSA, ASN.1 DER (r, s)\n" +
			"for ECDSA, 64 bytes for Ed25519 (which signs the file itself; --hash does not apply);\n" +
			"without --out it is printed in base64. Verify with e.g.\n" +
			"`openssl dgst -sha256 -verify pub.pem -signature SIG FILE`.\n\n" +
			"A GOST or O'zDSt key picks its own digest and CMS identifiers (Streebog-256/512 for\n" +
			"GOST R 34.10-2012, GOST R 34.11-94 for GOST R 34.10-2001 and O'zDSt 1092:2009); --hash\n" +
			"and --pss do not apply, and --raw writes s||r. Check a signature with `signet verify`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fl.hashChanged = cmd.Flags().Changed("hash")
			h, err := parseHash(fl.hashName)
			if err != nil {
				return err
			}
			if fl.raw && (fl.detached || fl.pem || fl.noTime || fl.chainFile != "") {
				return usagef("--raw does not take --detached, --pem, --no-signing-time or --chain")
			}
			in, err := openInput(fl.in)
			if err != nil {
				return err
			}
			defer in.Close()
			if !fl.raw && !fl.pem && (fl.out == "" || fl.out == "-") && isTerminal(a.Stdout) {
				return usagef("refusing to write binary DER to a terminal; use --out FILE or --pem")
			}
			var extra []*x509.Certificate
			if fl.chainFile != "" {
				if extra, err = readCerts(fl.chainFile); err != nil {
					return fmt.Errorf("--chain: %w", err)
				}
			}
			store, err := a.Store()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			ki, err := findKey(ctx, store, fl.keyURI)
			if err != nil {
				return err
			}
			if fl.pss && ki.Algorithm != "" && ki.Algorithm != hsm.RSA {
				return usagef("--pss needs an RSA key; %s is %s", ki.URI, ki.Algorithm)
			}
			if fl.raw {
				return signRaw(ctx, a, store, ki, in, fl, h)
			}
			return signCMS(ctx, a, store, ki, in, fl, h, extra)
		},
	}
	f := c.Flags()
	f.StringVar(&fl.keyURI, "key", "", "key `URI` (see `signet keys`)")
	f.StringVar(&fl.in, "in", "", "`file` to sign (default or -: standard input)")
	f.StringVar(&fl.out, "out", "", "write the signature to `file` (default or -: standard output)")
	f.StringVar(&fl.hashName, "hash", "sha256", "digest: sha256, sha384 or sha512 (Ed25519 CMS always uses sha512)")
	f.BoolVar(&fl.pss, "pss", false, "RSA-PSS (salt length = digest length) instead of PKCS#1 v1.5")
	f.BoolVar(&fl.detached, "detached", false, "leave the content out of the CMS message")
	f.BoolVar(&fl.pem, "pem", false, "write CMS as PEM (-----BEGIN CMS-----) instead of DER")
	f.BoolVar(&fl.noTime, "no-signing-time", false, "omit the signingTime attribute")
	f.StringVar(&fl.chainFile, "chain", "", "PEM or DER `file` of further certificates to include (intermediates)")
	f.BoolVar(&fl.raw, "raw", false, "write a bare signature instead of CMS")
	return c
}

// input is the content to sign with its size when known (-1 otherwise).
type input struct {
	io.Reader
	name string
	size int64
	f    *os.File
}

func (in *input) Close() error {
	if in.f == nil {
		return nil
	}
	return in.f.Close()
}

func openInput(path string) (*input, error) {
	if path == "" || path == "-" {
		if term.IsTerminal(int(os.Stdin.Fd())) {
			return nil, usagef("--in is required when standard input is a terminal")
		}
		// f stays nil: closing the input leaves standard input open.
		return &input{Reader: os.Stdin, name: "standard input", size: statSize(os.Stdin)}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &input{Reader: f, name: path, size: statSize(f), f: f}, nil
}

func statSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return -1
	}
	return st.Size()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func signRaw(ctx context.Context, a *App, store *hsm.Store, ki hsm.KeyInfo, in *input, fl signFlags, h crypto.Hash) error {
	var sig []byte
	var err error
	signEd := func(msg []byte) ([]byte, error) {
		if fl.pss {
			return nil, usagef("--pss needs an RSA key; %s is Ed25519", ki.URI)
		}
		return store.Sign(ctx, ki.URI, msg, crypto.Hash(0))
	}
	if gk := gostKey(ki); gk != nil {
		// A GOST or O'zDSt key signs its own algorithm's digest (s‖r).
		if fl.pss || fl.hashChanged {
			return usagef("%s is %s: its digest is fixed (--hash and --pss do not apply)", ki.URI, gk.Type)
		}
		hh := gk.Type.NewHash()
		if _, err := io.Copy(hh, progress(a, in, in.size)); err != nil {
			return fmt.Errorf("read %s: %w", in.name, err)
		}
		sig, err = store.Sign(ctx, ki.URI, hh.Sum(nil), crypto.Hash(0))
	} else if ki.Algorithm == hsm.Ed25519 {
		msg, rerr := limitread.All(in, maxEd25519Message, in.name)
		if rerr != nil {
			return rerr
		}
		sig, err = signEd(msg)
	} else {
		// Keep the content when it is small, in case a locked PFX key turns
		// out to be Ed25519 once unlocked.
		var keep bytes.Buffer
		var r io.Reader = in
		if ki.Algorithm == "" {
			r = io.TeeReader(in, &limitedBuffer{b: &keep, max: maxEd25519Message})
		}
		hh := h.New()
		if _, err := io.Copy(hh, progress(a, r, in.size)); err != nil {
			return fmt.Errorf("read %s: %w", in.name, err)
		}
		var opts crypto.SignerOpts = h
		if fl.pss {
			opts = &rsa.PSSOptions{Hash: h, SaltLength: rsa.PSSSaltLengthEqualsHash}
		}
		sig, err = store.Sign(ctx, ki.URI, hh.Sum(nil), opts)
		if err != nil && ki.Algorithm == "" && errors.Is(err, hsm.ErrInvalidRequest) {
			// A locked PFX key whose type was unknown: now it is unlocked.
			if again, ferr := findKey(ctx, store, ki.URI); ferr == nil && again.Algorithm == hsm.Ed25519 {
				ki = again
				if int64(keep.Len()) >= maxEd25519Message {
					return fmt.Errorf("%s is over %d bytes", in.name, maxEd25519Message)
				}
				sig, err = signEd(keep.Bytes())
			}
		}
	}
	if err != nil {
		return fmt.Errorf("sign %s with %s: %w", in.name, ki.URI, err)
	}
	if fl.out == "" || fl.out == "-" {
		fmt.Fprintln(a.Stdout, base64.StdEncoding.EncodeToString(sig))
		return nil
	}
	if err := os.WriteFile(fl.out, sig, 0o644); err != nil {
		return fmt.Errorf("write signature: %w", err)
	}
	fmt.Fprintf(a.Stderr, "signature (%d bytes) written to %s\n", len(sig), fl.out)
	return nil
}

// limitedBuffer keeps at most max bytes (and one more, to tell "too long").
type limitedBuffer struct {
	b   *bytes.Buffer
	max int64
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max + 1 - int64(l.b.Len()); room > 0 {
		if int64(len(p)) > room {
			l.b.Write(p[:room])
		} else {
			l.b.Write(p)
		}
	}
	return len(p), nil
}

func signCMS(ctx context.Context, a *App, store *hsm.Store, ki hsm.KeyInfo, in *input, fl signFlags, h crypto.Hash, extra []*x509.Certificate) error {
	if ki.Certificate == nil && strings.HasPrefix(ki.TokenURI, "file:") {
		// A PFX file whose certificate is encrypted: unlock it.
		again, err := ensurePublicKey(ctx, store, ki)
		if err != nil {
			return err
		}
		if again.Certificate == nil {
			if again, err = findKey(ctx, store, ki.URI); err != nil {
				return err
			}
		}
		ki = again
	}
	if ki.Certificate == nil {
		return fmt.Errorf("key %s has no certificate; a CMS signature needs the signer's certificate "+
			"(store one with `signet import-cert`, or use --raw for a bare signature)", ki.URI)
	}
	if fl.pss && ki.Algorithm != "" && ki.Algorithm != hsm.RSA {
		return usagef("--pss needs an RSA key; %s is %s", ki.URI, ki.Algorithm)
	}
	pub := ki.PublicKey
	if pub == nil {
		pub = certs.PublicKey(ki.Certificate)
	}
	opts := &cms.SignOptions{
		Digest:        h,
		NoSigningTime: fl.noTime,
		Chain:         append(append([]*x509.Certificate{}, ki.Chain...), extra...),
	}
	if ki.Algorithm == hsm.Ed25519 {
		opts.Digest = 0 // RFC 8419: SHA-512
	}
	if gk := gostKey(ki); gk != nil {
		// The key's algorithm fixes the digest and the CMS identifiers
		// (Streebog for GOST 2012, GOST R 34.11-94 / O'zDSt 1106 for 2001
		// and O'zDSt keys): the registry picks them from the key.
		if fl.pss || fl.hashChanged {
			return usagef("%s is %s: its digest is fixed (--hash and --pss do not apply)", ki.URI, gk.Type)
		}
		opts.Digest = 0
		pub = gk
	}
	if ki.Algorithm == hsm.DSTU4145 {
		// DSTU 4145 signs GOST 34.311-95 digests: the registry picks it.
		if fl.pss || fl.hashChanged {
			return usagef("%s is DSTU 4145: its digest is fixed (--hash and --pss do not apply)", ki.URI)
		}
		opts.Digest = 0
	}
	if fl.pss {
		opts.Algorithm = "RSA-PSS"
	}
	signer := hsm.Signer(ctx, store, ki.URI, pub)
	r := progress(a, in, in.size)

	out, err := openOutput(a, fl.out)
	if err != nil {
		return err
	}
	defer out.abort()
	var w io.Writer = out
	var pw *pemWriter
	if fl.pem {
		pw = newPEMWriter(out, "CMS")
		w = pw
	}
	wrap := func(err error) error { return fmt.Errorf("sign %s with %s: %w", in.name, ki.URI, err) }
	var der []byte
	switch {
	case fl.detached:
		if der, err = cms.SignDetached(r, signer, ki.Certificate, opts); err != nil {
			return wrap(err)
		}
	case in.size >= 0 && in.size <= maxAttachedInMemory:
		content, rerr := io.ReadAll(io.LimitReader(r, maxAttachedInMemory+1))
		if rerr != nil {
			return fmt.Errorf("read %s: %w", in.name, rerr)
		}
		if der, err = cms.Sign(content, signer, ki.Certificate, opts); err != nil {
			return wrap(err)
		}
	case in.size > maxAttachedInMemory:
		if err := cms.SignAttachedStream(w, r, in.size, signer, ki.Certificate, opts); err != nil {
			return wrap(err)
		}
	default: // unknown size: in memory if it turns out small, else stream
		head, rerr := io.ReadAll(io.LimitReader(r, maxAttachedInMemory+1))
		if rerr != nil {
			return fmt.Errorf("read %s: %w", in.name, rerr)
		}
		if len(head) <= maxAttachedInMemory {
			der, err = cms.Sign(head, signer, ki.Certificate, opts)
		} else {
			err = cms.SignAttachedStream(w, io.MultiReader(bytes.NewReader(head), r), -1, signer, ki.Certificate, opts)
		}
		if err != nil {
			return wrap(err)
		}
	}
	if der != nil {
		if _, err := w.Write(der); err != nil {
			return fmt.Errorf("write signature: %w", err)
		}
	}
	if pw != nil {
		if err := pw.Close(); err != nil {
			return fmt.Errorf("write signature: %w", err)
		}
	}
	return out.commit()
}

// output is standard output or a file written under a temporary name and
// renamed into place once the signature is complete.
type output struct {
	io.Writer
	f         *os.File
	path, tmp string
	done      bool
	a         *App
}

func openOutput(a *App, path string) (*output, error) {
	if path == "" || path == "-" {
		return &output{Writer: a.Stdout, a: a}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("create output: %w", err)
	}
	return &output{Writer: f, f: f, path: path, tmp: f.Name(), a: a}, nil
}

func (o *output) commit() error {
	o.done = true
	if o.f == nil {
		return nil
	}
	if err := o.f.Chmod(0o644); err != nil {
		return fmt.Errorf("write signature: %w", err)
	}
	if err := o.f.Close(); err != nil {
		os.Remove(o.tmp)
		return fmt.Errorf("write signature: %w", err)
	}
	if err := os.Rename(o.tmp, o.path); err != nil {
		os.Remove(o.tmp)
		return fmt.Errorf("write signature: %w", err)
	}
	fmt.Fprintf(o.a.Stderr, "CMS signature written to %s\n", o.path)
	return nil
}

func (o *output) abort() {
	if o.done || o.f == nil {
		return
	}
	o.f.Close()
	os.Remove(o.tmp)
}

// pemWriter streams a PEM block: base64 in 64-column lines.
type pemWriter struct {
	w     io.Writer
	enc   io.WriteCloser
	lw    *lineWriter
	label string
	err   error
}

func newPEMWriter(w io.Writer, label string) *pemWriter {
	lw := &lineWriter{w: w}
	p := &pemWriter{w: w, lw: lw, enc: base64.NewEncoder(base64.StdEncoding, lw), label: label}
	_, p.err = fmt.Fprintf(w, "-----BEGIN %s-----\n", label)
	return p
}

func (p *pemWriter) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	return p.enc.Write(b)
}

func (p *pemWriter) Close() error {
	if p.err != nil {
		return p.err
	}
	if err := p.enc.Close(); err != nil {
		return err
	}
	if p.lw.col > 0 {
		if _, err := p.w.Write([]byte{'\n'}); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(p.w, "-----END %s-----\n", p.label)
	return err
}

type lineWriter struct {
	w   io.Writer
	col int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(64-l.col, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		l.col += k
		p = p[k:]
		if l.col == 64 {
			if _, err := l.w.Write([]byte{'\n'}); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}

// progress wraps r to report the percentage read on stderr when stderr is
// a terminal and the size is known and large; otherwise it returns r.
func progress(a *App, r io.Reader, size int64) io.Reader {
	if size < progressMin || !isTerminal(a.Stderr) {
		return r
	}
	return &progressReader{r: r, size: size, w: a.Stderr, last: -1}
}

type progressReader struct {
	r          io.Reader
	w          io.Writer
	size, done int64
	last       int
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if pct := int(p.done * 100 / p.size); pct != p.last && pct <= 100 {
		p.last = pct
		fmt.Fprintf(p.w, "\rsigning: %3d%% of %d MiB", pct, p.size>>20)
		if pct == 100 {
			fmt.Fprintln(p.w)
		}
	}
	return n, err
}

func parseHash(name string) (crypto.Hash, error) {
	switch name {
	case "sha256", "SHA256", "sha-256":
		return crypto.SHA256, nil
	case "sha384", "SHA384", "sha-384":
		return crypto.SHA384, nil
	case "sha512", "SHA512", "sha-512":
		return crypto.SHA512, nil
	}
	return 0, usagef("--hash %q: want sha256, sha384 or sha512", name)
}
