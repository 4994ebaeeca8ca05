package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/internal/limitread"
	"github.com/signet-agent/signet/sdk/kontur"
)

// cloudSignFlags are the flags of `signet cloud-sign`.
type cloudSignFlags struct {
	url, account, apiKeyFile, tokenFile, caFile string
	draft, reply                                string
	noUpload, force                             bool
	codeFrom, out                               string
	timeout                                     time.Duration
}

func newCloudSignCmd(a *App) *cobra.Command {
	var f cloudSignFlags
	cmd := &cobra.Command{
		Use:   "cloud-sign FILE...",
		Short: "Sign documents with a cloud key, confirmed with a one-time code (Kontur.Extern API)",
		Long: `Upload FILEs to a cloud-signing server (Signet's server mode, or with --no-upload
a Kontur.Extern API where the documents already are), start the signature, ask for the
one-time code the server sent to the key's owner, confirm, and write each detached CMS
signature as FILE.p7s (or into --out).

  signet cloud-sign --url https://sign.example.org --account acme \
      --api-key-file ~/.config/signet/acme.key --draft 2026-q4 report.xml annex.pdf`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return runCloudSign(cmd.Context(), a, f, files)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "API base `URL` (required)")
	fl.StringVar(&f.account, "account", "", "account `id` (required)")
	fl.StringVar(&f.apiKeyFile, "api-key-file", "", "`file` holding the API key (X-Kontur-Apikey)")
	fl.StringVar(&f.tokenFile, "token-file", "", "`file` holding an OpenID Connect access token")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM `file` of CAs for the server's TLS (default: system roots)")
	fl.StringVar(&f.draft, "draft", "", "sign the documents of draft `ID` (one per FILE)")
	fl.StringVar(&f.reply, "reply", "", "sign one reply: `DOCFLOW/DOCUMENT/REPLY` (one FILE)")
	fl.BoolVar(&f.noUpload, "no-upload", false, "the documents are already on the server; FILEs only name the output")
	fl.BoolVar(&f.force, "force-confirmation", false, "ask for a code even where the account's policy needs none")
	fl.StringVar(&f.codeFrom, "code-from", "tty", "where the code comes from: tty, stdin, or test-tools (test servers)")
	fl.StringVar(&f.out, "out", "", "write signatures into `dir` instead of next to each FILE")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up after this long (the code must arrive and be typed within it)")
	return cmd
}

func runCloudSign(ctx context.Context, a *App, f cloudSignFlags, files []string) error {
	place, err := f.place(files)
	if err != nil {
		return err
	}
	client, err := f.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	if !f.noUpload {
		for _, file := range files {
			if err := uploadFile(ctx, client, place, f.draft != "", file); err != nil {
				return err
			}
		}
	}
	code := f.codeSource(a, client)
	sigs, err := client.SignWithCode(ctx, place, f.force, code)
	if err != nil {
		return fmt.Errorf("cloud-sign: %w", err)
	}
	if len(sigs) != len(files) {
		return fmt.Errorf("cloud-sign: the server returned %d signatures for %d files", len(sigs), len(files))
	}
	// Draft documents come back in document-id order (the file's base name).
	ordered := append([]string(nil), files...)
	sortByBase(ordered)
	for i, file := range ordered {
		out := file + ".p7s"
		if f.out != "" {
			out = filepath.Join(f.out, filepath.Base(file)+".p7s")
		}
		if err := os.WriteFile(out, sigs[i], 0o644); err != nil {
			return fmt.Errorf("cloud-sign: %w", err)
		}
		fmt.Fprintf(a.Stdout, "%s\n", out)
	}
	return nil
}

func (f cloudSignFlags) place(files []string) (kontur.Place, error) {
	switch {
	case f.url == "" || f.account == "":
		return kontur.Place{}, usagef("cloud-sign: --url and --account are required")
	case (f.draft == "") == (f.reply == ""):
		return kontur.Place{}, usagef("cloud-sign: name exactly one of --draft and --reply")
	case f.reply != "":
		parts := strings.Split(f.reply, "/")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return kontur.Place{}, usagef("cloud-sign: --reply %q is not DOCFLOW/DOCUMENT/REPLY", f.reply)
		}
		if len(files) != 1 {
			return kontur.Place{}, usagef("cloud-sign: a reply is one document; %d files given", len(files))
		}
		return kontur.Reply(f.account, parts[0], parts[1], parts[2]), nil
	}
	seen := map[string]bool{}
	for _, file := range files {
		if seen[filepath.Base(file)] {
			return kontur.Place{}, usagef("cloud-sign: two files named %q: a draft's documents are named by file name", filepath.Base(file))
		}
		seen[filepath.Base(file)] = true
	}
	return kontur.Draft(f.account, f.draft), nil
}

func (f cloudSignFlags) client() (*kontur.Client, error) {
	c := &kontur.Client{BaseURL: f.url}
	switch {
	case (f.apiKeyFile == "") == (f.tokenFile == ""):
		return nil, usagef("cloud-sign: give exactly one of --api-key-file and --token-file")
	case f.apiKeyFile != "":
		key, err := readSecretFile(f.apiKeyFile)
		if err != nil {
			return nil, err
		}
		c.APIKey = key
	default:
		path := f.tokenFile
		c.Token = func(context.Context) (string, error) { return readSecretFile(path) }
	}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("cloud-sign: --ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cloud-sign: --ca-file %s holds no certificate", f.caFile)
		}
		c.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	return c, nil
}

// codeSource asks for the code where --code-from says.
func (f cloudSignFlags) codeSource(a *App, c *kontur.Client) kontur.CodeFunc {
	return func(ctx context.Context, in kontur.SignInitiation) (string, error) {
		switch f.codeFrom {
		case "test-tools":
			return c.TestCode(ctx, in.RequestID)
		case "stdin":
			return readCode(os.Stdin)
		case "tty":
			tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
			if err != nil {
				return "", fmt.Errorf("cloud-sign: no terminal to ask for the code (use --code-from stdin): %w", err)
			}
			defer tty.Close()
			fmt.Fprintf(tty, "Code sent to the key's owner for %d document(s): ", len(in.DocumentsToSign))
			return readCode(tty)
		}
		return "", usagef("cloud-sign: --code-from %q: tty, stdin or test-tools", f.codeFrom)
	}
}

func readCode(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 64)).ReadString('\n')
	code := strings.TrimSpace(line)
	if code == "" {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("no code entered")
		}
		return "", fmt.Errorf("cloud-sign: %w", err)
	}
	return code, nil
}

// readSecretFile reads an API key or token, refusing a file others can read.
func readSecretFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("cloud-sign: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("cloud-sign: %s is readable by others (mode %o); chmod 600 it", path, st.Mode().Perm())
	}
	data, err := limitread.File(path, 64<<10)
	if err != nil {
		return "", fmt.Errorf("cloud-sign: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

func uploadFile(ctx context.Context, c *kontur.Client, p kontur.Place, draft bool, file string) error {
	fh, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("cloud-sign: %w", err)
	}
	defer fh.Close()
	doc := ""
	if draft {
		doc = filepath.Base(file)
	}
	if err := c.PutContent(ctx, p, doc, fh); err != nil {
		return fmt.Errorf("cloud-sign: upload %s: %w", file, err)
	}
	return nil
}

func sortByBase(files []string) {
	sort.Slice(files, func(i, j int) bool { return filepath.Base(files[i]) < filepath.Base(files[j]) })
}
