// Command gendocs writes the signet command's man pages (section 1, one
// per command, from the cobra commands' help) into a directory; the
// package build runs it.
//
//	go run ./packaging/gendocs -out DIR -version 1.2.3
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra/doc"

	"github.com/signet-agent/signet/agent/cli"
)

func main() {
	out := flag.String("out", "", "directory for the man pages")
	version := flag.String("version", cli.Version, "version shown in the pages' footer")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gendocs: -out DIR is required")
		os.Exit(2)
	}
	if err := run(*out, *version); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(dir, version string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := cli.NewRoot(&cli.App{Stdout: io.Discard, Stderr: io.Discard})
	root.DisableAutoGenTag = true // no generation date: the package is reproducible
	return doc.GenManTree(root, &doc.GenManHeader{Title: "SIGNET", Section: "1", Source: "Signet " + version, Manual: "Signet manual"}, dir)
}
