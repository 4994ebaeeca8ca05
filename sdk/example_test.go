package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/signet-agent/signet/sdk"
	"github.com/signet-agent/signet/sdk/cms"
)

type hello struct{}

func (hello) Describe() sdk.Description {
	return sdk.Description{
		Name: "hello", Version: "0.1.0", Summary: "lists keys over HTTPS",
		Listeners: []sdk.ListenerSpec{{Name: "https", Addr: "127.0.0.1:8443", TLS: true}},
	}
}

func (hello) Serve(ctx context.Context, host *sdk.Host) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		keys, err := host.KeyService().Keys(r.Context(), sdk.Operation{Origin: r.Header.Get("Origin")})
		if err != nil && len(keys) == 0 {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		var uris []string
		for _, k := range keys {
			if k.HasPrivateKey && k.CanSign {
				uris = append(uris, k.URI)
			}
		}
		_ = json.NewEncoder(w).Encode(uris)
	})
	return sdk.ServeHTTP(ctx, host, "https", mux)
}

// A whole plugin: describe one HTTPS listener, serve it with ServeHTTP,
// and hand the plugin to Serve from main. It runs under `signet serve`.
func Example() {
	sdk.Serve(hello{}) // in main; does not return
}

// HTTPServer sets timeouts of its own; the drain still follows the host.
func ExampleHTTPServer() {
	var (
		ctx     context.Context // Serve's
		host    *sdk.Host
		handler http.Handler
	)
	_ = sdk.HTTPServer{Listeners: []string{"https"}, Handler: handler, ReadHeaderTimeout: 5 * time.Second}.Serve(ctx, host)
}

// Describe the document the person is asked about from its bytes: the
// host shows the name, the size and the SHA-256 the plugin computed.
func ExampleDocumentOf() {
	doc := sdk.DocumentOf("contract.txt", "text/plain", []byte("I agree.\n"))
	fmt.Println(doc.Name, doc.Size, len(doc.SHA256))
	// Output: contract.txt 9 32
}

// A detached CMS signature over a document with a key of the host's key
// store: cms hashes the document in the plugin and the host signs once,
// after asking the person.
func ExampleKeyService_Signer() {
	var (
		r    *http.Request
		host *sdk.Host
		key  sdk.Key // from KeyService.Keys
		doc  []byte
	)
	op := sdk.Operation{Origin: r.Header.Get("Origin"), Documents: []sdk.Document{sdk.DocumentOf("doc.txt", "", doc)}}
	signer := host.KeyService().Signer(r.Context(), key, op)
	der, err := cms.Sign(doc, signer, key.Certificate, &cms.SignOptions{Detached: true, Chain: key.Chain})
	_, _ = der, err
}

// List the candidates, let the person pick one, sign: one dialog. The
// listing is for the choice (ForChoice), so an origin the person has not
// allowed yet is not asked about it; the choice's dialog asks about the
// origin, the key and this signature at once, and returns the key in full.
func ExampleConsent_ChooseKey() {
	var (
		ctx  context.Context
		host *sdk.Host
		op   sdk.Operation
	)
	list := op
	list.ForChoice = true
	keys, err := host.KeyService().Keys(ctx, list)
	if err != nil && len(keys) == 0 {
		return
	}
	var candidates []string
	for _, k := range keys {
		if k.HasPrivateKey && k.CanSign && len(candidates) < sdk.MaxKeyChoices {
			candidates = append(candidates, k.URI)
		}
	}
	choice, err := host.Consent().ChooseKey(ctx, candidates, sdk.KeyFilter{Certificate: true}, op)
	if err != nil {
		return // ErrDenied, ErrTimeout, ErrCancelled, ErrKeyNotFound
	}
	op.GrantID = choice.GrantID
	signer := host.KeyService().Signer(ctx, choice.Key, op)
	der, err := cms.Sign([]byte("document"), signer, choice.Key.Certificate, &cms.SignOptions{Detached: true, Chain: choice.Key.Chain})
	_, _ = der, err
}

// Map the host's errors to the protocol's own codes with errors.Is, and
// show the tries left of a refused PIN with errors.As.
func ExamplePINError() {
	var err error = &sdk.PINError{Token: "My token", State: sdk.PINState{Retries: 2}, Err: sdk.ErrPINIncorrect}
	var pe *sdk.PINError
	if errors.Is(err, sdk.ErrPINIncorrect) && errors.As(err, &pe) {
		fmt.Println("tries left:", pe.State.Retries)
	}
	fmt.Println(err)
	// Output:
	// tries left: 2
	// My token: incorrect PIN or password (2 tries left)
}

// PFX keys are named by file: URIs; ParseFileKeyURI gives the file and
// the entry.
func ExampleParseFileKeyURI() {
	path, alias, err := sdk.ParseFileKeyURI("file:///home/me/keys/my%20key.pfx#signing")
	fmt.Println(path, alias, err)
	// Output: /home/me/keys/my key.pfx signing <nil>
}
