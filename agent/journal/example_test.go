package journal_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"

	"github.com/signet-agent/signet/agent/journal"
	"github.com/signet-agent/signet/hsm"
)

// The host records a signature after it happened (or failed).
func Example() {
	dir, _ := os.MkdirTemp("", "journal-example")
	defer os.RemoveAll(dir)

	j, err := journal.Open(journal.PathIn(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer j.Close()

	doc := []byte("%PDF-1.7 …")
	sum := sha256.Sum256(doc)
	rec := journal.Record{
		Plugin:     "eimzo",
		Origin:     "https://portal.example",
		Op:         journal.OpSign,
		KeyURI:     "pkcs11:token=Signet;object=key1;type=private",
		CertSerial: "1a2b",
		Documents:  []journal.Document{{Name: "contract.pdf", Size: int64(len(doc)), SHA256: journal.DocumentDigest(sum[:])}},
		Decision:   journal.DecisionAllowed,
		DecidedBy:  journal.ByUser,
	}
	rec.SetOutcome(nil) // or the error the key store returned
	if _, err := j.Append(context.Background(), rec); err != nil {
		fmt.Println(err)
		return
	}

	denied := journal.Record{Plugin: "cipher", Origin: "https://other.example", Op: journal.OpSign,
		Decision: journal.DecisionDenied, DecidedBy: journal.ByUser}
	denied.SetOutcome(fmt.Errorf("consent: %w", hsm.ErrDenied))
	j.Append(context.Background(), denied)

	rep, _ := journal.VerifyFile(filepath.Join(dir, journal.FileName))
	fmt.Println(rep.OK(), rep.Records, rep.HeadSeq)
	recs, _ := j.List(journal.Filter{Op: journal.OpSign, Last: 1})
	fmt.Println(recs[0].Seq, recs[0].Decision, recs[0].ErrorKind)
	// Output:
	// true 2 2
	// 2 denied denied
}
