package cryptoarm_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/plugins/cryptoarm"
)

// TestParseParamsVariants: the document's and the code's variants parse
// the same: urlDetached/urlSign, signStandart/signStandard, enums as
// numbers and strings, operation as a list or one string, the legacy
// params form, and the service's error member.
func TestParseParamsVariants(t *testing.T) {
	p, err := cryptoarm.ParseParams([]byte(`{"jsonrpc":"2.0","id":"3a","result":{"operation":["SIGN"],"props":{"license":"","uploader":"https://localhost:4040/json",
	 "files":[{"name":"file1.txt","url":"https://x/f","id":1,"urlDetached":""},{"name":"b","url":"u","id":"x","urlSign":"s"}],
	 "extra":{"token":"9c","signType":"1","signStandard":"0","signEncoding":0,"timestampOnSign":"False"}}}}`))
	require.NoError(t, err)
	assert.Equal(t, cryptoarm.StringList{"SIGN"}, p.Operation)
	assert.Equal(t, json.RawMessage("1"), p.Props.Files[0].ID)
	assert.Equal(t, "s", p.Props.Files[1].Detached())
	assert.Equal(t, 1, p.Props.Extra.SignType.N)
	assert.Equal(t, 0, p.Props.Extra.Standard().N)
	assert.False(t, bool(p.Props.Extra.TimestampOnSign))

	p, err = cryptoarm.ParseParams([]byte(`{"jsonrpc":"2.0","result":{"operation":"export","props":{"store":"MY","multy":"true"}}}`))
	require.NoError(t, err)
	assert.Equal(t, cryptoarm.StringList{"export"}, p.Operation)
	assert.True(t, bool(p.Props.Multy))

	p, err = cryptoarm.ParseParams([]byte(`{"jsonrpc":"2.0","method":"verify","params":{"token":"t","files":[{"name":"a","url":"u","id":"1"}],"uploader":"https://x/u"}}`))
	require.NoError(t, err)
	assert.Equal(t, cryptoarm.StringList{"VERIFYSIGN"}, p.Operation)
	assert.Equal(t, "t", p.Props.Extra.Token)

	_, err = cryptoarm.ParseParams([]byte(`{"jsonrpc":"2.0","error":{"code":-32602,"message":"Invalid params"},"id":"1"}`))
	assert.ErrorContains(t, err, "Invalid params (-32602)")
	_, err = cryptoarm.ParseParams([]byte(`not json`))
	var je *cryptoarm.JobError
	require.True(t, errors.As(err, &je))
	assert.Equal(t, cryptoarm.CodeParse, je.Code)
	_, err = cryptoarm.ParseParams([]byte(`{"result":{"props":{"files":[{"name":"../x"}]}}}`))
	assert.ErrorIs(t, err, cryptoarm.ErrBadName)
	many := `{"result":{"props":{"files":[` + strings.Repeat(`{"name":"a"},`, cryptoarm.MaxFiles) + `{"name":"a"}]}}}`
	_, err = cryptoarm.ParseParams([]byte(many))
	assert.ErrorContains(t, err, "files (at most")
}

// FuzzParseParams: any input parses or fails with a JobError; what parses
// has only plain file names and at most MaxFiles files.
func FuzzParseParams(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","result":{"operation":["SIGN"],"props":{"files":[{"name":"a","url":"u","id":1}],"extra":{"signType":"1"}}}}`))
	f.Add([]byte(`{"method":"sign","params":{"files":[{"name":"a","urlSign":"s"}]}}`))
	f.Add([]byte(`{"error":{"code":1,"message":"m"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := cryptoarm.ParseParams(data)
		if err != nil {
			var je *cryptoarm.JobError
			if !errors.As(err, &je) {
				t.Fatalf("not a JobError: %v", err)
			}
			return
		}
		if len(p.Props.Files) > cryptoarm.MaxFiles {
			t.Fatalf("%d files", len(p.Props.Files))
		}
		for _, fl := range p.Props.Files {
			if fl.Name == "" || fl.Name == ".." || strings.ContainsAny(fl.Name, `/\`) {
				t.Fatalf("name %q accepted", fl.Name)
			}
		}
	})
}
