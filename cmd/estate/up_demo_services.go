//go:build servicesonly

package main

import (
	"context"
	"flag"

	"gopkg.in/yaml.v3"

	"github.com/estatehq/estate/internal/modules"
)

// demoOptions accepts, and ignores, the demo's section: the build of the
// services alone has no demo.
type demoOptions struct {
	Demo yaml.Node `yaml:"demo"`
}

func (*demoOptions) registerFlags(*flag.FlagSet) {}

func (*demoOptions) validate() error { return nil }

func (*demoOptions) guided() bool { return false }

// relationalStores is none beyond the services'.
func (*platformConfigs) relationalStores([]string) []relationalStore { return nil }

// startDemo does nothing: there is no demo in this build.
func (*app) startDemo(context.Context, map[string]string) (modules.Service, error) { return nil, nil }
