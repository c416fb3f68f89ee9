// Package examples holds the example SLOs of the estate's own services,
// invoicing and credit: availability and latency, over the span-derived RED
// series that the collector computes (estate_red_*). `estate up` loads
// them unless told otherwise (--slo.examples=false).
package examples

import "embed"

// FS holds the example files, *.yaml.
//
//go:embed *.yaml
var FS embed.FS
