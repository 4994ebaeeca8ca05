package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/signet-agent/signet/agent/config"
	"github.com/signet-agent/signet/agent/journal"
)

// journalFlags are shared by journal list and journal verify.
type journalFlags struct {
	path   string
	config string
	json   bool
}

func (f *journalFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.path, "path", "", "journal `file` (default: journal.jsonl in the data directory, $XDG_DATA_HOME/signet)")
	cmd.Flags().StringVar(&f.config, "config", "", "configuration `file` whose data_dir holds the journal (default $XDG_CONFIG_HOME/signet/config.yaml)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON")
}

// file returns the journal path: --path, else the data directory of the
// configuration (which defaults to $XDG_DATA_HOME/signet).
func (f *journalFlags) file() (string, error) {
	if f.path != "" {
		return f.path, nil
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		return "", fmt.Errorf("%w (or name the journal with --path)", err)
	}
	return journal.PathIn(cfg.DataDir), nil
}

func newJournalCmd(a *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "journal",
		Short: "Show and verify the audit journal of consent decisions and key operations",
		Long: `The agent records every consent decision and key operation in an append-only journal
(by default $XDG_DATA_HOME/signet/journal.jsonl). Each record carries the hash of the one
before it, so ` + "`signet journal verify`" + ` detects an edited, removed, reordered or inserted record.

When the journal reaches its size limit (journal.max_size_mb in the configuration) it is
moved aside as journal.000001.jsonl, journal.000002.jsonl, … and a new journal.jsonl
continues the chain. list and verify read every file, oldest first, as one journal: a
rotated file that is removed, edited or swapped with another breaks the chain.

Refusals nobody was asked about are coalesced per site: the first is recorded, the ones
that follow within a minute are counted in one record (shown as "×N").`,
	}
	cmd.AddCommand(newJournalListCmd(a), newJournalVerifyCmd(a))
	return cmd
}

func newJournalListCmd(a *App) *cobra.Command {
	var jf journalFlags
	var filter journal.Filter
	var op string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List journal records (oldest first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if filter.Last < 0 {
				return usagef("--last must not be negative")
			}
			path, err := jf.file()
			if err != nil {
				return err
			}
			filter.Op = journal.Op(op)
			recs, err := journal.ReadFile(path, filter)
			if errors.Is(err, fs.ErrNotExist) {
				if jf.json {
					fmt.Fprintln(a.Stdout, "[]")
				} else {
					fmt.Fprintf(a.Stdout, "no journal at %s: nothing recorded yet\n", path)
				}
				return nil
			}
			if err != nil {
				return err
			}
			if jf.json {
				if recs == nil {
					recs = []journal.Record{}
				}
				enc := json.NewEncoder(a.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(recs)
			}
			printJournal(a, recs)
			return nil
		},
	}
	jf.register(cmd)
	f := cmd.Flags()
	f.IntVar(&filter.Last, "last", 0, "show only the last `N` matching records")
	f.StringVar(&op, "op", "", "only records of this operation (sign, decrypt, keygen, csr, import, list, consent, grant)")
	f.StringVar(&filter.Origin, "origin", "", "only records of this origin or local caller")
	f.StringVar(&filter.Plugin, "plugin", "", "only records of this plugin")
	return cmd
}

func printJournal(a *App, recs []journal.Record) {
	if len(recs) == 0 {
		fmt.Fprintln(a.Stdout, "no records")
		return
	}
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tOP\tDECISION\tRESULT\tPLUGIN\tORIGIN/CALLER\tKEY\tDOCUMENTS\tEVIDENCE")
	for _, r := range recs {
		who := r.Origin
		if who == "" && r.Caller != "" {
			who = "local: " + r.Caller
		}
		decision := string(r.Decision)
		if r.DecidedBy != "" {
			by := r.DecidedBy
			if r.GrantID != "" {
				by += " " + shortGrantID(r.GrantID)
			}
			decision += " (" + by + ")"
		} else if r.GrantID != "" {
			decision += " (grant " + shortGrantID(r.GrantID) + ")"
		}
		if r.Repeat != nil {
			decision += fmt.Sprintf(" ×%d", r.Repeat.Count)
		}
		result := r.Result
		if r.ErrorKind != "" {
			result += ": " + r.ErrorKind
		}
		var docs []string
		for _, d := range r.Documents {
			s := fmt.Sprintf("%s %dB", d.Name, d.Size)
			if d.SHA256 != "" {
				s += " sha256:" + d.SHA256[:16] + "…"
			}
			docs = append(docs, s)
		}
		if r.DocumentsOmitted > 0 {
			docs = append(docs, fmt.Sprintf("+%d more", r.DocumentsOmitted))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.UTC().Format(time.RFC3339),
			cell(string(r.Op)), cell(decision), cell(result), cell(r.Plugin), cell(who), cell(r.KeyURI),
			cell(strings.Join(docs, "; ")), evidenceCell(r.Evidence))
	}
	tw.Flush()
}

// shortGrantID is the first 8 characters of a grant id (ids are 32 hex
// digits; 8 tell them apart in a listing, --json has the full id).
func shortGrantID(id string) string {
	if r := []rune(id); len(r) > 8 {
		return string(r[:8]) + "…"
	}
	return id
}

// evidenceCell shows a record's evidence as key=value pairs in key order.
// Keys and values go through cell, so control characters are quoted; a
// value that is empty or holds a space or '=' is quoted too, so pairs stay
// unambiguous.
func evidenceCell(ev map[string]string) string {
	if len(ev) == 0 {
		return "-"
	}
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(ev)) {
		v := cell(ev[k])
		if ev[k] == "" || (v == ev[k] && strings.ContainsAny(v, " =")) {
			v = strconv.Quote(ev[k])
		}
		pairs = append(pairs, cell(k)+"="+v)
	}
	return strings.Join(pairs, " ")
}

// cell makes a value from the journal safe to print on a terminal: the
// values come from plugins and web pages, so control characters (escape
// sequences, tabs, newlines) are shown quoted rather than interpreted.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return strconv.QuoteToGraphic(s)
		}
	}
	return s
}

// inFiles says how many files a rotated journal spans.
func inFiles(rep journal.Report) string {
	if len(rep.Files) <= 1 {
		return ""
	}
	return fmt.Sprintf(" in %d files", len(rep.Files))
}

func newJournalVerifyCmd(a *App) *cobra.Command {
	var jf journalFlags
	var anchorArgs []string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the journal's hash chain; exit status 1 if it is broken",
		Long: `Verify re-reads the journal — its rotated files, oldest first, then the current file — and
checks that every record matches its hash and links to the record before it, across files.
It reports each break with its file, line, sequence number and reason, and exits with
status 1 if there is any.

A hash chain kept beside its data cannot show that its tail was rewritten with recomputed
hashes, or cut off. Verify prints the head (SEQ:HASH of the last record): keep it somewhere
else, and a later ` + "`signet journal verify --anchor SEQ:HASH`" + ` fails if that record has since
been rewritten or removed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := jf.file()
			if err != nil {
				return err
			}
			var anchors []journal.Anchor
			for _, s := range anchorArgs {
				a, err := journal.ParseAnchor(s)
				if err != nil {
					return usagef("--anchor: %v", err)
				}
				anchors = append(anchors, a)
			}
			rep, err := journal.VerifyFile(path, anchors...)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no journal at %s", path)
			}
			if err != nil {
				return err
			}
			if jf.json {
				enc := json.NewEncoder(a.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(struct {
					Path string `json:"path"`
					OK   bool   `json:"ok"`
					journal.Report
				}{path, rep.OK(), rep}); err != nil {
					return err
				}
			} else if rep.OK() {
				fmt.Fprintf(a.Stdout, "journal %s: %d records%s, chain intact\nhead: %s\n",
					path, rep.Records, inFiles(rep), journal.Anchor{Seq: rep.HeadSeq, Hash: rep.HeadHash})
			} else {
				fmt.Fprintf(a.Stdout, "journal %s: %d lines, %d records%s, %d problems:\n",
					path, rep.Lines, rep.Records, inFiles(rep), rep.ProblemCount)
				for _, p := range rep.Problems {
					fmt.Fprintf(a.Stdout, "  %s\n", cell(p.String()))
				}
				if n := rep.ProblemCount - len(rep.Problems); n > 0 {
					fmt.Fprintf(a.Stdout, "  … and %d more\n", n)
				}
			}
			if !rep.OK() {
				first, _ := rep.First()
				return fmt.Errorf("journal verification failed: %s", cell(first.String()))
			}
			return nil
		},
	}
	jf.register(cmd)
	cmd.Flags().StringArrayVar(&anchorArgs, "anchor", nil, "a head printed by an earlier verify, `SEQ:HASH`, that must still be there (repeatable)")
	return cmd
}
