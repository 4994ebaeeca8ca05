package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// rule makes the summary rows of every benchmark whose name matches
// bench: the ratio num/den of two of its metrics (den "" when num is a
// ratio already), the metrics shown next to it, and the target.
type rule struct {
	id     string
	name   string // row name; $1, $2 … are bench's submatches
	bench  *regexp.Regexp
	num    string
	den    string
	show   []string
	target func(m []string) string // the target, given bench's submatches
}

func fixed(s string) func([]string) string { return func([]string) string { return s } }

// byKey is the target for a P1 row: RSA-2048 or P-256.
func byKey(rsa, p256 string) func([]string) string {
	return func(m []string) string {
		if m[1] == "RSA2048" {
			return rsa
		}
		return p256
	}
}

var (
	p1Latency    = regexp.MustCompile(`^BenchmarkEIMZOCreatePKCS7/(\w+)/latency$`)
	p1Throughput = regexp.MustCompile(`^BenchmarkEIMZOCreatePKCS7/(\w+)/throughput$`)
)

// rules are the rows of the summary, in order.
var rules = []rule{
	{id: "P1", name: "create_pkcs7 $1 kept-open p50 ÷ raw C_Sign p50", bench: p1Latency,
		num: "keep-p50-ms", den: "raw-p50-ms", show: []string{"keep-added-p50-ms", "raw-p50-ms"}, target: fixed("added ≤ 0.5 ms")},
	{id: "P1", name: "create_pkcs7 $1 conn-per-call p50 ÷ raw C_Sign p50", bench: p1Latency,
		num: "conn-per-call-p50-ms", den: "raw-p50-ms", show: []string{"conn-per-call-added-p50-ms"}, target: fixed("added ≤ 1.0 ms")},
	{id: "P1", name: "create_pkcs7 $1 CPU per call (agent+plugin) ÷ raw C_Sign p50", bench: p1Latency,
		num: "agent-cpu-ms/call+plugin-cpu-ms/call", den: "raw-p50-ms", show: []string{"agent-cpu-ms/call", "plugin-cpu-ms/call"}, target: fixed("CPU ≤ 0.5 ms")},
	{id: "P1", name: "create_pkcs7 $1 8 clients kept-open ÷ raw 4 goroutines", bench: p1Throughput,
		num: "keep/raw", show: []string{"keep-8c-ops/s", "raw-4g-ops/s"}, target: byKey("≥ 0.8", "≥ 0.5")},
	{id: "P1", name: "create_pkcs7 $1 8 clients conn-per-call ÷ raw 4 goroutines", bench: p1Throughput,
		num: "conn-per-call/raw", show: []string{"conn-per-call-8c-ops/s"}, target: byKey("≥ 0.6", "≥ 0.3")},
	{id: "P2", name: "1 GiB detached via $1 ÷ openssl dgst -sha256", bench: regexp.MustCompile(`^BenchmarkLargeDocument/(.+)$`),
		num: "sign/openssl", show: []string{"s/sign", "peak-RSS-MiB", "openssl-peak-RSS-MiB"}, target: fixed("")},
	{id: "P3", name: "hsm sign $1 ÷ raw C_Sign (throughput)", bench: regexp.MustCompile(`^BenchmarkSign/(.+)/hsm$`),
		num: "hsm/raw-throughput", show: []string{"ns/op", "raw-ns/op"}, target: fixed("≥ 0.95")},
	{id: "P4", name: "cold start to 3 plugins ready ÷ exec floor", bench: regexp.MustCompile(`^BenchmarkColdStart$`),
		num: "ready/floor", show: []string{"ms-to-ready", "MiB-RSS-host+3"}, target: fixed("≤ 300 ms, ≤ 100 MiB")},
	{id: "P5", name: "host↔plugin call ÷ plain two-process gRPC", bench: regexp.MustCompile(`^BenchmarkBrokerRoundTrip$`),
		num: "broker/plain", show: []string{"µs/broker-call", "µs/plain-call"}, target: fixed("≤ 1.25")},
	{id: "P6", name: "CMS 1 KiB ÷ bare signature (CPU)", bench: regexp.MustCompile(`^BenchmarkCMSOverhead$`),
		num: "cms/bare-cpu", show: []string{"cms/bare-wall"}, target: fixed("≤ 1.10")},
	{id: "P7", name: "cloud-sign flows, 3 replicas ÷ 1 replica (throughput)", bench: regexp.MustCompile(`^BenchmarkKonturReplicas$`),
		num: "3-vs-1-replica", show: []string{"flows/s-3", "p50-ms-3", "p99-ms-3", "lost", "duplicated"}, target: fixed("lost = duplicated = 0")},
}

// Row is one line of the summary.
type Row struct {
	ID     string             `json:"id"`
	Name   string             `json:"name"`
	Bench  string             `json:"bench"`
	Ratio  float64            `json:"ratio"`
	Target string             `json:"target,omitempty"`
	Values map[string]float64 `json:"values,omitempty"`
}

// Rows applies rules to res, in rule order and then benchmark name.
func Rows(res Results) []Row {
	names := make([]string, 0, len(res))
	for n := range res {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []Row
	for _, r := range rules {
		for _, n := range names {
			m := r.bench.FindStringSubmatch(n)
			if m == nil {
				continue
			}
			num, ok := sum(res[n], r.num)
			if !ok {
				continue
			}
			ratio := num
			if r.den != "" {
				den, ok := res[n][r.den]
				if !ok || den == 0 {
					continue
				}
				ratio = num / den
			}
			row := Row{ID: r.id, Name: expand(r.name, m), Bench: n, Ratio: ratio, Target: r.target(m), Values: map[string]float64{}}
			for _, s := range r.show {
				if v, ok := res[n][s]; ok {
					row.Values[s] = v
				}
			}
			out = append(out, row)
		}
	}
	return out
}

// sum adds the metrics named in expr ("a+b").
func sum(m map[string]float64, expr string) (float64, bool) {
	var t float64
	for _, k := range strings.Split(expr, "+") {
		v, ok := m[k]
		if !ok {
			return 0, false
		}
		t += v
	}
	return t, true
}

func expand(name string, m []string) string {
	for i := len(m) - 1; i >= 1; i-- {
		name = strings.ReplaceAll(name, fmt.Sprintf("$%d", i), m[i])
	}
	return name
}
