package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Report is what -json writes: the summary rows and every metric.
type Report struct {
	Rows    []Row   `json:"rows"`
	Metrics Results `json:"metrics"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	jsonOut := fs.String("json", "", "also write the figures to `file`")
	compare := fs.Bool("compare", false, "compare two JSON files: benchreport -compare OLD NEW")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *compare {
		if fs.NArg() != 2 {
			return fmt.Errorf("-compare takes two JSON files, OLD and NEW")
		}
		old, err := load(fs.Arg(0))
		if err != nil {
			return err
		}
		cur, err := load(fs.Arg(1))
		if err != nil {
			return err
		}
		writeCompare(w, old, cur)
		return nil
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one file of `go test -bench` output (- for standard input)")
	}
	in := os.Stdin
	if fs.Arg(0) != "-" {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	res, err := Parse(in)
	if err != nil {
		return err
	}
	rep := Report{Rows: Rows(res), Metrics: res}
	writeTable(w, rep.Rows)
	if *jsonOut != "" {
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func load(path string) (Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Report{}, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return Report{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// writeTable prints the summary: one row per line, the ratio first.
func writeTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "\nSummary (each ratio against its baseline in the same run)")
	fmt.Fprintf(w, "%-3s %-64s %8s  %-22s %s\n", "", "measure", "ratio", "target", "figures")
	for _, r := range rows {
		fmt.Fprintf(w, "%-3s %-64s %8.3f  %-22s %s\n", r.ID, r.Name, r.Ratio, r.Target, values(r.Values))
	}
}

// writeCompare prints the rows of old and cur side by side, matched by
// name, with new÷old.
func writeCompare(w io.Writer, old, cur Report) {
	prev := map[string]Row{}
	for _, r := range old.Rows {
		prev[r.Name] = r
	}
	fmt.Fprintf(w, "%-3s %-64s %8s %8s %8s  %s\n", "", "measure", "old", "new", "new÷old", "target")
	seen := map[string]bool{}
	for _, r := range cur.Rows {
		seen[r.Name] = true
		if o, ok := prev[r.Name]; ok && o.Ratio != 0 {
			fmt.Fprintf(w, "%-3s %-64s %8.3f %8.3f %8.3f  %s\n", r.ID, r.Name, o.Ratio, r.Ratio, r.Ratio/o.Ratio, r.Target)
		} else {
			fmt.Fprintf(w, "%-3s %-64s %8s %8.3f %8s  %s\n", r.ID, r.Name, "-", r.Ratio, "-", r.Target)
		}
	}
	for _, o := range old.Rows {
		if !seen[o.Name] {
			fmt.Fprintf(w, "%-3s %-64s %8.3f %8s %8s  %s\n", o.ID, o.Name, o.Ratio, "-", "-", o.Target)
		}
	}
}

func values(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%.4g", k, m[k])
	}
	return strings.Join(parts, " ")
}
