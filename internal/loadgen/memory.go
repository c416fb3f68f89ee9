package loadgen

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Memory is a process's resident memory in kB, as /proc/PID/status gives
// it: anonymous (RssAnon: heap, stacks, caches), file-backed (RssFile: the
// pages of its binary and of mapped files it has touched) and in all
// (VmRSS).
type Memory struct {
	Anon int64 `json:"rss_anon_kb"`
	File int64 `json:"rss_file_kb"`
	RSS  int64 `json:"rss_kb"`
}

// ReadMemory reads pid's resident memory from /proc.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("reading the memory of process %d: %w", pid, err)
	}
	var m Memory
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "RssAnon:":
			m.Anon = kb
		case "RssFile:":
			m.File = kb
		case "VmRSS:":
			m.RSS = kb
		}
	}
	return m, nil
}

// MemorySample is the memory at a time after the start of a run.
type MemorySample struct {
	At time.Duration `json:"at_ns"`
	Memory
}

// Peak is the highest of each figure over the samples.
func Peak(samples []MemorySample) Memory {
	var p Memory
	for _, s := range samples {
		p = Memory{max(p.Anon, s.Anon), max(p.File, s.File), max(p.RSS, s.RSS)}
	}
	return p
}

// Slope fits a line through the samples' values of field (least squares)
// and returns its slope in kB per minute and in percent of the samples'
// mean per minute. Fewer than two samples, or all at one time, have none.
func Slope(samples []MemorySample, field func(Memory) int64) (kBPerMin, pctPerMin float64, ok bool) {
	if len(samples) < 2 {
		return 0, 0, false
	}
	var sx, sy float64
	for _, s := range samples {
		sx += s.At.Minutes()
		sy += float64(field(s.Memory))
	}
	n := float64(len(samples))
	mx, my := sx/n, sy/n
	var num, den float64
	for _, s := range samples {
		dx := s.At.Minutes() - mx
		num += dx * (float64(field(s.Memory)) - my)
		den += dx * dx
	}
	if den == 0 {
		return 0, 0, false
	}
	kBPerMin = num / den
	if my > 0 {
		pctPerMin = kBPerMin / my * 100
	}
	return kBPerMin, pctPerMin, true
}

// After is the samples taken at or after d.
func After(samples []MemorySample, d time.Duration) []MemorySample {
	for i, s := range samples {
		if s.At >= d {
			return samples[i:]
		}
	}
	return nil
}

// RssAnon and RssFile pick a figure of Memory, for Slope and Sparkline.
func RssAnon(m Memory) int64 { return m.Anon }

// RssFile is the file-backed figure.
func RssFile(m Memory) int64 { return m.File }

// Sparkline draws the values of field as a line of block characters,
// lowest to highest of the samples, at most width wide (later samples are
// averaged into one character).
func Sparkline(samples []MemorySample, field func(Memory) int64, width int) string {
	if len(samples) == 0 || width <= 0 {
		return ""
	}
	bars := []rune("▁▂▃▄▅▆▇█")
	per := (len(samples) + width - 1) / width
	var vals []float64
	for i := 0; i < len(samples); i += per {
		var sum float64
		j := min(i+per, len(samples))
		for _, s := range samples[i:j] {
			sum += float64(field(s.Memory))
		}
		vals = append(vals, sum/float64(j-i))
	}
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	var b strings.Builder
	for _, v := range vals {
		k := 0
		if hi > lo {
			k = int(math.Round((v - lo) / (hi - lo) * float64(len(bars)-1)))
		}
		b.WriteRune(bars[k])
	}
	return b.String()
}

// sampler reads a process's memory on a ticker until stopped.
type sampler struct {
	done    chan struct{}
	samples chan []MemorySample
}

func startSampler(pid int, every time.Duration) *sampler {
	s := &sampler{done: make(chan struct{}), samples: make(chan []MemorySample, 1)}
	if pid == 0 {
		s.samples <- nil
		return s
	}
	start := time.Now()
	go func() {
		var out []MemorySample
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := ReadMemory(pid); err == nil {
				out = append(out, MemorySample{At: time.Since(start), Memory: m})
			}
			select {
			case <-s.done:
				s.samples <- out
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the samples, with one taken last.
func (s *sampler) stop() []MemorySample {
	close(s.done)
	return <-s.samples
}
