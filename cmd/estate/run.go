package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/logging"
	"github.com/estatehq/estate/internal/modules"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// errUsage marks an error already explained to the user on stderr.
var errUsage = errors.New("usage error")

// command is one subcommand of estate.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environ, args []string) error
}

// environ is what a command may touch of the outside world; tests pass their
// own.
type environ struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// now is the clock every command and target is given.
	now func() time.Time
}

func commands() []command {
	cmds := []command{
		{name: "up", summary: "run every target in one process, with embedded storage", run: runUp},
	}
	for _, t := range targets() {
		cmds = append(cmds, command{name: t.name, summary: t.summary, run: runTarget(t.name)})
	}
	cmds = append(cmds, tools()...)
	cmds = append(cmds, command{name: "version", summary: "print the version", run: runVersion})
	return cmds
}

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &environ{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	if len(args) < 2 {
		usage(stderr)
		return errUsage
	}
	name, rest := args[1], args[2:]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return nil
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, env, rest)
		}
	}
	fmt.Fprintf(stderr, "estate: unknown command %q (see estate --help)\n", name)
	return errUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "estate: the reliability layer of a microservice estate")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: estate COMMAND [options]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every option is a flag, an ESTATE_* environment variable or a key of the")
	fmt.Fprintln(w, "YAML file given by --config; a flag beats the variable, which beats the file.")
	fmt.Fprintln(w, "`estate COMMAND --help` lists a command's options with their defaults.")
}

func runVersion(_ context.Context, env *environ, _ []string) error {
	fmt.Fprintf(env.stdout, "estate %s\n", buildVersion())
	return nil
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// runUp starts every public target.
func runUp(ctx context.Context, env *environ, args []string) error {
	names := upTargetNames()
	// One machine: services trust the development issuer of `estate token`
	// (a later --auth.dev=false turns it off); every listener is on
	// loopback (see loopbackDefaults).
	return serve(ctx, env, "up", names, append([]string{"--auth.dev=true"}, args...))
}

// loopbackDefaults makes every listener of `estate up` bind the loopback
// interface unless the user sets its address (a flag, the environment or
// the file): one machine's estate, with a development issuer, is not
// served to the network. The services' fault surfaces, off by default
// elsewhere, serve the chaos controller on free loopback ports. The
// per-target commands, run in containers, keep their defaults.
func loopbackDefaults(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.HasSuffix(f.Name, "listen-addr") {
			return
		}
		addr := f.DefValue
		if host, port, err := net.SplitHostPort(addr); err == nil && (host == "" || net.ParseIP(host).IsUnspecified()) {
			addr = net.JoinHostPort("127.0.0.1", port)
		} else if addr == "" && strings.HasSuffix(f.Name, "fault-listen-addr") {
			addr = "127.0.0.1:0"
		}
		if err := f.Value.Set(addr); err == nil {
			f.DefValue = addr
		}
	})
}

func runTarget(name string) func(context.Context, *environ, []string) error {
	return func(ctx context.Context, env *environ, args []string) error {
		if len(args) > 0 {
			for _, t := range targets() {
				for _, sc := range t.subcommands {
					if t.name == name && sc.name == args[0] {
						return sc.run(ctx, env, args[1:])
					}
				}
			}
		}
		return serve(ctx, env, name, []string{name}, args)
	}
}

// parseConfig binds the options of the command's targets, and only those,
// and applies the YAML file, the environment and args. An option of
// another target is refused with its name and its target's.
func parseConfig(env *environ, cmd string, targetNames, args []string) (*Config, []string, error) {
	cfg := &Config{}
	fs := flag.NewFlagSet("estate "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs, targetNames)
	if cmd == "up" {
		cfg.Up.registerFlags(fs)
		loopbackDefaults(fs)
	}
	if err := refuseForeignFlags(fs, cmd, args); err != nil {
		return nil, nil, err
	}
	rest, err := config.Load(fs, cfg, args, env.getenv)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(env.stdout, fs, cmd)
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return cfg, rest, nil
}

// loadConfig parses args for the command and validates what the targets use.
func loadConfig(env *environ, cmd string, targetNames, args []string) (*Config, []string, error) {
	cfg, rest, err := parseConfig(env, cmd, targetNames, args)
	if err != nil {
		return nil, nil, err
	}
	err = cfg.Validate(targetNames)
	if cmd == "up" {
		err = errors.Join(err, cfg.Up.validate())
	}
	if err != nil {
		return nil, nil, fmt.Errorf("invalid configuration: %w", err)
	}
	cfg.applyPortOffset(targetNames)
	return cfg, rest, nil
}

// refuseForeignFlags names the first flag in args that fs does not know
// but another target reads: the flag package would only say that it is
// not defined.
func refuseForeignFlags(fs *flag.FlagSet, cmd string, args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			return nil // the flag package stops here too
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if f := fs.Lookup(name); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && (!ok || !b.IsBoolFlag()) {
				i++ // the next argument is this flag's value
			}
			continue
		}
		if owner := ownerOf(name); owner != "" {
			return fmt.Errorf("%s: --%s is an option of the %s target, which this command does not run", cmd, name, owner)
		}
	}
	return nil
}

// printCommandHelp lists the command's options: exactly those it reads.
func printCommandHelp(w io.Writer, fs *flag.FlagSet, cmd string) {
	fmt.Fprintf(w, "Usage: estate %s [options]\n\nOptions:\n", cmd)
	config.PrintUsage(w, fs)
}

// serve runs targets until ctx ends or one of them fails.
func serve(ctx context.Context, env *environ, cmd string, targetNames, args []string) error {
	cfg, rest, err := loadConfig(env, cmd, targetNames, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%s: unexpected argument %q", cmd, rest[0])
	}
	logger, err := logging.New(cfg.Log, env.stderr)
	if err != nil {
		return err
	}
	if cmd == "up" {
		if err := cfg.applyPostgres(ctx, targetNames); err != nil {
			return err
		}
	}
	a := newApp(cfg, logger, env)
	defer a.close()
	if err := a.loadTLS(); err != nil {
		return err
	}
	mgr, err := modules.New(logger, a.modules()...)
	if err != nil {
		return err
	}
	if err := mgr.Start(ctx, targetNames...); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	urls := map[string]string{}
	for _, s := range mgr.Services() {
		if e, ok := s.Service.(modules.Endpoint); ok {
			urls[s.Name] = e.URL()
			fmt.Fprintf(tw, "%s\t%s\n", s.Name, e.URL())
		}
	}
	_ = tw.Flush()
	if cmd == "up" && cfg.Auth.Dev {
		signIn := urls["report-server"]
		if cfg.Up.guided() {
			signIn = "" // the demo's guide says it, beside its links
		}
		printTokenHelp(env.stdout, cfg.DataDir, signIn)
	}
	stop := func(first error, more ...modules.Service) error {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
		defer cancel()
		logger.Info("stopping", "command", cmd)
		errs := []error{first}
		for _, s := range more {
			errs = append(errs, s.Shutdown(stopCtx))
		}
		return errors.Join(append(errs, mgr.Shutdown(stopCtx))...)
	}
	var extra []modules.Service
	if cmd == "up" {
		// The demo is a client of the targets: it starts once they serve,
		// and stops before them.
		d, err := a.startDemo(ctx, urls)
		if err != nil {
			return stop(err)
		}
		if d != nil {
			extra = append(extra, d)
		}
	}
	logger.Info("estate started", "command", cmd, "version", buildVersion(), "data_dir", cfg.DataDir)
	return stop(mgr.Wait(ctx), extra...)
}
