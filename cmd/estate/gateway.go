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

	"github.com/estatehq/estate/gateway"
	"github.com/estatehq/estate/internal/config"
	credithttp "github.com/estatehq/estate/services/credit/http"
	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
)

const gatewayUsage = "Usage: estate gateway export --issuer URL --audience AUD --vpc-link-id ID --integration-uri [SERVICE=]ARN... [--stage NAME] [--cors-origin ORIGIN...] [--out FILE]"

// runGateway is `estate gateway export`: the OpenAPI document that
// configures AWS API Gateway in front of the services, from their own
// documents.
func runGateway(_ context.Context, env *environ, args []string) error {
	return runSubcommand(env, "gateway", gatewayUsage, args, subcommand{"export", func(args []string) error { return runGatewayExport(env, args) }})
}

// gatewayServices are the services behind the gateway, with the documents
// they serve.
func gatewayServices() ([]gateway.Service, error) {
	var out []gateway.Service
	for _, s := range []struct {
		name string
		doc  any
	}{{"invoicing", invoicinghttp.OpenAPI()}, {"credit", credithttp.OpenAPI()}} {
		b, err := json.Marshal(s.doc)
		if err != nil {
			return nil, fmt.Errorf("encoding the %s service's document: %w", s.name, err)
		}
		out = append(out, gateway.Service{Name: s.name, Document: b})
	}
	return out, nil
}

func runGatewayExport(env *environ, args []string) error {
	fs := flag.NewFlagSet("estate gateway export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfg gateway.Config
	cfg.RegisterFlags(fs)
	out := fs.String("out", "", "file to write the document to, replaced whole (default: standard output)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.stdout, gatewayUsage+"\n\nWrites the OpenAPI 3.0 document to import into AWS API Gateway (an HTTP API) with\n"+
				"`aws apigatewayv2 import-api --body file://FILE`: every route of the services through the VPC link to the\n"+
				"internal load balancer, behind a JWT authorizer of the OIDC issuer. See docs/gateway.md.\n\nOptions:")
			config.PrintUsage(env.stdout, fs)
		}
		return fmt.Errorf("gateway export: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("gateway export: unexpected argument %q", fs.Arg(0))
	}
	services, err := gatewayServices()
	if err != nil {
		return fmt.Errorf("gateway export: %w", err)
	}
	doc, err := gateway.Export(cfg, services)
	if err != nil {
		return fmt.Errorf("gateway export: %s", oneLine(err))
	}
	if *out == "" {
		_, err = env.stdout.Write(doc)
		return err
	}
	if err := os.WriteFile(*out, doc, 0o644); err != nil {
		return fmt.Errorf("gateway export: %w", err)
	}
	return nil
}

// oneLine joins the errors of a joined error with "; ", so that the
// command's error is one line.
func oneLine(err error) string {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var parts []string
		for _, e := range joined.Unwrap() {
			parts = append(parts, oneLine(e))
		}
		return strings.Join(parts, "; ")
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
