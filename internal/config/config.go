// Package config loads a target's configuration with one precedence for every
// option: a command-line flag beats an ESTATE_* environment variable, which
// beats the YAML file given by --config (or ESTATE_CONFIG), which beats the
// default.
//
// Defaults live in one place: each configuration struct's RegisterFlags, which
// binds a flag to every field. The YAML file is decoded strictly (an unknown
// key is an error) into the same struct, so a key and its flag always agree:
// the flag `--invoicing.listen-addr` is the key `invoicing: {listen_addr: }`
// and the variable ESTATE_INVOICING_LISTEN_ADDR.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable that sets an option.
const EnvPrefix = "ESTATE_"

// FileFlag is the flag that names the YAML file.
const FileFlag = "config"

// EnvName is the environment variable for a flag: ESTATE_ then the flag name
// upper-cased, with dots and dashes as underscores.
func EnvName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return EnvPrefix + strings.ToUpper(r.Replace(flagName))
}

// Load applies the file, the environment and args, in that order, to cfg,
// whose fields fs's flags are bound to (defaults already in place). It returns
// the arguments left after the flags.
func Load(fs *flag.FlagSet, cfg any, args []string, getenv func(string) string) ([]string, error) {
	var file string
	if fs.Lookup(FileFlag) == nil {
		fs.StringVar(&file, FileFlag, "", "YAML configuration file (env "+EnvName(FileFlag)+")")
	}
	// A first parse finds --config and reports unknown flags early; the flags'
	// values are set again by the last parse, after the file and environment.
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	path := fs.Lookup(FileFlag).Value.String()
	if path == "" {
		path = getenv(EnvName(FileFlag))
	}
	if path != "" {
		if err := decodeFile(path, cfg); err != nil {
			return nil, err
		}
	}
	var envErrs []error
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == FileFlag {
			return
		}
		name := EnvName(f.Name)
		if v, ok := lookup(getenv, name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	if err := errors.Join(envErrs...); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func decodeFile(path string, cfg any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	if err := Decode(b, cfg); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Decode decodes YAML into cfg strictly: unknown keys are errors. An empty
// document changes nothing.
func Decode(b []byte, cfg any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// PrintUsage writes every option of fs with its default and its variable.
func PrintUsage(w io.Writer, fs *flag.FlagSet) {
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range flags {
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "  --%s\t%s\n", f.Name, f.Usage)
		fmt.Fprintf(tw, "  \t(default %s, env %s)\n", def, EnvName(f.Name))
	}
	_ = tw.Flush()
}
