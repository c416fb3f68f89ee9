//go:build !servicesonly

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/estatehq/estate/chaos"
	chaoshttp "github.com/estatehq/estate/chaos/http"
	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/progress"
)

// chaosSubcommands are the commands under `estate chaos`; all but validate
// talk to the controller's API.
func chaosSubcommands() []command {
	return []command{
		{name: "run", summary: "start an experiment from FILE and print its progress until its verdict (--dry-run: what would be injected where)", run: runChaosRun},
		{name: "validate", summary: "check an experiment FILE without running it", run: runChaosValidate},
		{name: "ls", summary: "list runs, newest first", run: runChaosLs},
		{name: "show", summary: "show a run ID with its journal", run: runChaosShow},
		{name: "abort", summary: "abort a run or schedule ID", run: runChaosAbort},
		{name: "halt", summary: "the kill switch: abort every run and refuse new ones until resume", run: runChaosHalt},
		{name: "resume", summary: "turn the kill switch off", run: runChaosResume},
	}
}

// errVerdict marks a run that ended without passing; its verdict is
// printed already.
var errVerdict = errors.New("the run did not pass")

// chaosFlags parses a subcommand's flags: --url of the controller, the
// --token its calls carry, and the subcommand's own.
func chaosFlags(env *environ, name string, args []string, more func(fs *flag.FlagSet)) (*chaoshttp.Client, []string, error) {
	fs := flag.NewFlagSet("estate chaos "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	u := fs.String("url", "http://127.0.0.1:8089", "URL of the chaos controller (env ESTATE_CHAOS_URL)")
	if v := env.getenv(config.EnvName("chaos-url")); v != "" {
		*u = v
	}
	token := tokenFlag(env, fs, "chaos.halt halts; chaos.operate does everything")
	if more != nil {
		more(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, errUsage
	}
	return chaoshttp.NewClient(*u, tokenClient(*token, 30*time.Second)), fs.Args(), nil
}

func oneArg(env *environ, name, what string, rest []string) (string, error) {
	if len(rest) != 1 {
		fmt.Fprintf(env.stderr, "estate chaos %s: expected one %s\n", name, what)
		return "", errUsage
	}
	return rest[0], nil
}

func readExperiment(env *environ, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(env.stdin, chaos.MaxDocumentBytes+1))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading experiment: %w", err)
	}
	return b, nil
}

func runChaosValidate(_ context.Context, env *environ, args []string) error {
	fs := flag.NewFlagSet("estate chaos validate", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	path, err := oneArg(env, "validate", "FILE", fs.Args())
	if err != nil {
		return err
	}
	doc, err := readExperiment(env, path)
	if err != nil {
		return err
	}
	e, err := chaos.Load(doc)
	if err != nil {
		fmt.Fprintf(env.stderr, "%s: invalid experiment\n", path)
		for _, f := range chaos.ErrorFields(err) {
			fmt.Fprintf(env.stderr, "  %s\n", f)
		}
		return errUsage
	}
	platform := e.Spec.Fault.Platform()
	if g := e.Spec.GameDay; g != nil {
		platform = g.Faults[0].Platform()
	}
	fmt.Fprintf(env.stdout, "%s: valid: %s fault %s on %s for %s\n", path, platform, kindOf(e), e.Spec.Target.Service, e.Spec.Duration)
	return nil
}

func kindOf(e chaos.Experiment) string {
	if e.Spec.GameDay != nil {
		return "game-day"
	}
	return e.Spec.Fault.Kind()
}

func runChaosRun(ctx context.Context, env *environ, args []string) error {
	var dry, detach bool
	var poll time.Duration
	c, rest, err := chaosFlags(env, "run", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&dry, "dry-run", false, "print what would be injected where, and inject nothing")
		fs.BoolVar(&detach, "detach", false, "start the run and return at once")
		fs.DurationVar(&poll, "poll", 500*time.Millisecond, "how often to read the run's progress")
	})
	if err != nil {
		return err
	}
	path, err := oneArg(env, "run", "FILE", rest)
	if err != nil {
		return err
	}
	doc, err := readExperiment(env, path)
	if err != nil {
		return err
	}
	if dry {
		plan, err := c.DryRun(ctx, doc)
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(plan, "", "  ")
		fmt.Fprintln(env.stdout, string(b))
		return nil
	}
	run, err := c.Submit(ctx, doc)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "run %s: %s\n", run.ID, run.State)
	if detach {
		return nil
	}
	return followRun(ctx, env, c, run.ID, poll)
}

// followRun prints a run's journal as it grows, until its verdict, and
// on stderr how far into the fault's duration the run is.
func followRun(ctx context.Context, env *environ, c *chaoshttp.Client, id string, poll time.Duration) error {
	seq := 0
	var p *progress.Reporter
	defer func() { p.Finish() }()
	for {
		entries, err := c.Journal(ctx, id, seq)
		if err != nil {
			return err
		}
		for _, e := range entries {
			printEntry(env.stdout, e)
			seq = e.Seq
		}
		run, err := c.Run(ctx, id)
		if err != nil {
			return err
		}
		if run.StartedAt != nil {
			if p == nil {
				// A game day's faults come in windows of their own: its
				// length is not known ahead, and only the time is shown.
				var total int64
				if run.Experiment.Spec.GameDay == nil {
					total = int64(run.Experiment.Spec.Duration.D().Seconds())
				}
				p = progress.New(env.stderr, progress.Options{Description: "run " + id, Total: total, Unit: "s"})
			}
			p.Set(int64(env.now().Sub(*run.StartedAt).Seconds()))
		}
		if run.State == chaos.StateFinished && len(run.Journal) <= seq {
			fmt.Fprintf(env.stdout, "verdict: %s (%s)\n", run.Verdict, run.Reason)
			if run.Verdict != chaos.VerdictPassed {
				return errVerdict
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

func printEntry(w io.Writer, e chaos.Entry) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-8s", e.Time.Local().Format("15:04:05.000"), e.Kind)
	if e.Phase != "" {
		fmt.Fprintf(&b, " [%s]", e.Phase)
	}
	if e.Probe != "" {
		ok := "?"
		if e.OK != nil {
			ok = map[bool]string{true: "ok", false: "FAIL"}[*e.OK]
		}
		fmt.Fprintf(&b, " %s %s:", e.Probe, ok)
	}
	fmt.Fprintf(&b, " %s", e.Message)
	fmt.Fprintln(w, b.String())
}

func runChaosLs(ctx context.Context, env *environ, args []string) error {
	var state string
	c, _, err := chaosFlags(env, "ls", args, func(fs *flag.FlagSet) {
		fs.StringVar(&state, "state", "", "only runs in these states, comma-separated (scheduled, running, finished...)")
	})
	if err != nil {
		return err
	}
	var f chaos.RunFilter
	for _, s := range strings.Split(state, ",") {
		if s != "" {
			f.States = append(f.States, chaos.State(s))
		}
	}
	runs, err := c.Runs(ctx, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEXPERIMENT\tFAULT\tTARGET\tSTATE\tVERDICT\tCREATED")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Experiment.Metadata.Name, r.Fault.Kind(), r.Experiment.Spec.Target.Service,
			r.State, r.Verdict, r.CreatedAt.Local().Format(time.RFC3339))
	}
	return tw.Flush()
}

func runChaosShow(ctx context.Context, env *environ, args []string) error {
	c, rest, err := chaosFlags(env, "show", args, nil)
	if err != nil {
		return err
	}
	id, err := oneArg(env, "show", "run ID", rest)
	if err != nil {
		return err
	}
	r, err := c.Run(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "run %s: experiment %s, fault %s on %s\nstate: %s\n", r.ID, r.Experiment.Metadata.Name, r.Fault.Kind(), r.Experiment.Spec.Target.Service, r.State)
	if r.Verdict != "" {
		fmt.Fprintf(env.stdout, "verdict: %s (%s)\n", r.Verdict, r.Reason)
	}
	if r.IncidentID != "" {
		fmt.Fprintf(env.stdout, "incident: %s\n", r.IncidentID)
	}
	for _, in := range r.Injections {
		fmt.Fprintf(env.stdout, "injection: %s into %s until %s\n", in.Kind, in.Target, in.Deadline.Local().Format(time.RFC3339))
	}
	fmt.Fprintln(env.stdout, "journal:")
	for _, e := range r.Journal {
		printEntry(env.stdout, e)
	}
	return nil
}

func runChaosAbort(ctx context.Context, env *environ, args []string) error {
	var reason string
	c, rest, err := chaosFlags(env, "abort", args, func(fs *flag.FlagSet) { fs.StringVar(&reason, "reason", "", "why, for the journal") })
	if err != nil {
		return err
	}
	id, err := oneArg(env, "abort", "run ID", rest)
	if err != nil {
		return err
	}
	r, err := c.Abort(ctx, id, reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "run %s: %s %s (%s)\n", r.ID, r.State, r.Verdict, r.Reason)
	return nil
}

func runChaosHalt(ctx context.Context, env *environ, args []string) error {
	var reason string
	c, _, err := chaosFlags(env, "halt", args, func(fs *flag.FlagSet) { fs.StringVar(&reason, "reason", "", "why, for the journal and the switch") })
	if err != nil {
		return err
	}
	h, err := c.Halt(ctx, reason)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "kill switch on (%s): %d runs aborted; no run starts until `estate chaos resume`\n", h.Reason, h.Aborted)
	return nil
}

func runChaosResume(ctx context.Context, env *environ, args []string) error {
	c, _, err := chaosFlags(env, "resume", args, nil)
	if err != nil {
		return err
	}
	if _, err := c.Resume(ctx); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "kill switch off: runs may start")
	return nil
}
