package cipher

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
)

func removeQuietly(path string) { _ = os.Remove(path) }

// readBlob reads a file of at most max bytes (signatures, not documents).
func readBlob(b *blob, max int64) ([]byte, error) {
	if b.size > max {
		return nil, fmt.Errorf("%d bytes, more than the %d this operation reads into memory: %w", b.size, max, errDataTooLarge)
	}
	data, err := os.ReadFile(b.path)
	if err != nil {
		return nil, fmt.Errorf("reading the session's file: %w", err)
	}
	return data, nil
}

// serveBlob writes b raw (application/octet-stream) or as a JSON
// {"base64Data"} object, streaming from the file.
func serveBlob(w http.ResponseWriter, b *blob, b64 bool) error {
	f, err := os.Open(b.path)
	if err != nil {
		return fmt.Errorf("the result is gone (the session was deleted?): %w", err)
	}
	defer f.Close()
	if !b64 {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(b.size, 10))
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, f)
		return nil
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"base64Data":"`)
	enc := base64.NewEncoder(base64.StdEncoding, w)
	_, _ = io.Copy(enc, f)
	_ = enc.Close()
	_, _ = io.WriteString(w, "\"}\n")
	return nil
}

// writeBytes stores data as a new blob of t.
func (t *ticket) writeBytes(kind string, data []byte) (*blob, error) {
	return t.writeBlob(kind, bytesReader(data), int64(len(data)))
}
