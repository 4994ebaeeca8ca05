// Command mkdemo fills the demo SoftHSM token with an RSA-2048 and an ECDSA
// P-256 key and their certificates from a demo PKI, and writes a demo PFX
// file (modern encoding, password "demo") to DIR/pfx/demo.pfx and an
// E-IMZO-style key file to DIR/eimzo/DSKEYS/.
//
//	mkdemo -dir DIR [-token signet-demo] [-pin 1234]
//
// DIR must hold a softhsm2.conf and the token (softhsm-config/create-token.sh
// makes both); softhsm-config/demo-setup.sh runs the two in order. The logic
// is softhsmtest.FillDemo.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/signet-agent/signet/internal/softhsmtest"
)

func main() {
	dir := flag.String("dir", "", "demo directory holding softhsm2.conf (required)")
	label := flag.String("token", softhsmtest.DemoTokenLabel, "token label")
	pin := flag.String("pin", softhsmtest.DemoUserPIN, "the token's user PIN (a demo PIN)")
	flag.Parse()
	if *dir == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*dir, *label, *pin); err != nil {
		fmt.Fprintln(os.Stderr, "mkdemo:", err)
		os.Exit(1)
	}
}

func run(dir, label, pin string) error {
	env, err := softhsmtest.LoadEnv(dir)
	if err != nil {
		return err
	}
	if err := env.CheckTools(); err != nil {
		return err
	}
	tok, err := env.OpenToken(label, pin, "")
	if err != nil {
		return err
	}
	res, err := softhsmtest.FillDemo(env.Dir, tok)
	if err != nil {
		return err
	}
	for _, k := range res.Keys {
		fmt.Printf("token %q: key %q (ID %s, %s), certificate %q\n", tok.Label, k.Label, k.IDHex(), k.Type, k.Certificate.Subject.CommonName)
	}
	for _, s := range res.Skipped {
		fmt.Println("kept:", s)
	}
	fmt.Printf("PFX file: %s (password %q)\n", res.PFXPath, softhsmtest.DemoPFXPassword)
	fmt.Printf("E-IMZO key file: %s (password %q)\n", res.EIMZOPath, softhsmtest.DemoPFXPassword)
	return nil
}
