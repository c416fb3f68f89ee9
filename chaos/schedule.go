package chaos

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/robfig/cron/v3"
)

// ParseCron parses a five-field cron expression or a descriptor (@hourly,
// @every 1h), in UTC.
func ParseCron(expr string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("not a cron expression: %w", err)
	}
	return s, nil
}

// Slot is one fault a game day drew: when, and which.
type Slot struct {
	At time.Time `json:"at"`
	// Fault indexes GameDay.Faults.
	Fault int `json:"fault"`
}

// Plan draws the game day's faults: for each slot of Every in each window
// (in the order of the windows), a fault with the probability, at a
// random offset that leaves room for the run before the slot ends. The
// same seed draws the same plan, so a game day replays exactly.
func (g GameDay) Plan(runLength time.Duration) []Slot {
	every := g.Every.D()
	if every <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(g.Seed, 0x65737461746521)) //nolint:gosec // a replayable draw, not a secret
	var out []Slot
	for _, w := range g.Windows {
		for start := w.Start; start.Before(w.End); start = start.Add(every) {
			end := start.Add(every)
			if end.After(w.End) {
				end = w.End
			}
			// Draw every number of the slot whether it fires or not, so
			// that one slot's outcome never shifts another's.
			hit, pick, frac := rng.Float64(), rng.IntN(max(len(g.Faults), 1)), rng.Float64()
			room := end.Sub(start) - runLength
			if hit >= g.Probability || room < 0 || len(g.Faults) == 0 {
				continue
			}
			offset := time.Duration(frac * float64(room)).Truncate(time.Second)
			out = append(out, Slot{At: start.Add(offset).UTC(), Fault: pick})
		}
	}
	slices.SortStableFunc(out, func(a, b Slot) int { return a.At.Compare(b.At) })
	return out
}
