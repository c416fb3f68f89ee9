//go:build !servicesonly

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGatewayExport: the command writes the golden document of the gateway
// package, whose test makes it with the same flags.
func TestGatewayExport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "gateway.json")
	stdout, _, err := runCmd(t, "gateway", "export",
		"--issuer", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", "--audience", "5r2example,estate-api",
		"--vpc-link-id", "abc123", "--cors-origin", "https://app.example.com",
		"--integration-uri", "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/estate-internal/50dc6c495c0c9188/0467ef3c8400ae65",
		"--out", out)
	require.NoError(t, err)
	require.Empty(t, stdout)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	want, err := os.ReadFile("../../gateway/testdata/gateway.golden.json")
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

func TestGatewayExportErrors(t *testing.T) {
	_, _, err := runCmd(t, "gateway", "export", "--issuer", "http://issuer", "--vpc-link-id", "abc123")
	require.EqualError(t, err, `gateway export: issuer: must be an https URL, not "http://issuer"; audience: must name at least one audience; `+
		"integration_uri: the invoicing service has none: give ARN for every service, or invoicing=ARN; "+
		"integration_uri: the credit service has none: give ARN for every service, or credit=ARN")
	require.NotContains(t, err.Error(), "\n", "one line")

	_, _, err = runCmd(t, "gateway", "export", "--integration-uri", "arn:a", "--integration-uri", "arn:b")
	require.EqualError(t, err, `gateway export: invalid value "arn:b" for flag -integration-uri: a default URI is given twice`)
	_, _, err = runCmd(t, "gateway", "import")
	require.EqualError(t, err, `gateway: unknown subcommand "import" (export)`)
	_, errOut, err := runCmd(t, "gateway")
	require.ErrorIs(t, err, errUsage)
	require.True(t, strings.HasPrefix(errOut, "Usage: estate gateway export"))
	help, _, err := runCmd(t, "gateway", "export", "--help")
	require.ErrorContains(t, err, "help requested")
	require.Contains(t, help, "aws apigatewayv2 import-api")
	require.Contains(t, help, "--integration-uri")
}
