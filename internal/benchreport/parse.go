package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Results are the metrics of each benchmark, by benchmark name (without
// the -GOMAXPROCS suffix) and unit. A benchmark run more than once (-count)
// keeps the median of its values.
type Results map[string]map[string]float64

// maxLine bounds one line of benchmark output.
const maxLine = 1 << 20

var procsSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads `go test -bench` output: lines "BenchmarkName-N <iterations>
// <value> <unit> <value> <unit> …". Other lines are skipped.
func Parse(r io.Reader) (Results, error) {
	all := map[string]map[string][]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue // a log line that starts with the name
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		m := all[name]
		if m == nil {
			m = map[string][]float64{}
			all[name] = m
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%s: value %q of %s is not a number", name, f[i], f[i+1])
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	out := Results{}
	for name, m := range all {
		out[name] = map[string]float64{}
		for unit, vs := range m {
			out[name][unit] = median(vs)
		}
	}
	return out, nil
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
