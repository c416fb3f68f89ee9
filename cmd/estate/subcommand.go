//go:build !servicesonly

package main

import (
	"flag"
	"fmt"
	"strings"
)

// subcommand is one subcommand of a command (`slo rules`, `gateway export`).
type subcommand struct {
	name string
	run  func(args []string) error
}

// runSubcommand runs the subcommand that args names. With none named, or
// a flag first, it prints usage on stderr and answers errUsage, or
// flag.ErrHelp for -h.
func runSubcommand(env *environ, command, usage string, args []string, subs ...subcommand) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(env.stderr, usage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return flag.ErrHelp
		}
		return errUsage
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		if s.name == args[0] {
			return s.run(args[1:])
		}
		names[i] = s.name
	}
	return fmt.Errorf("%s: unknown subcommand %q (%s)", command, args[0], strings.Join(names, ", "))
}
