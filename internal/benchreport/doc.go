// Command benchreport turns the output of `go test -bench` into the
// summary `make bench` ends with: one table whose rows are each a ratio
// against a baseline measured in the same run (raw PKCS#11 signing, a bare
// signature, `openssl dgst`, plain gRPC, the exec floor), next to the
// absolute figures and the target. It also writes the same figures as JSON,
// and compares two such files side by side.
//
//	go test -run '^$' -bench . ./... | tee bench.txt
//	go run ./internal/benchreport -json bench.json bench.txt
//	go run ./internal/benchreport -compare old.json new.json
//
// The rows are defined in rows.go (rules): a benchmark that reports the
// metrics a rule names gets its row.
package main
