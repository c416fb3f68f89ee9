package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
)

func TestRoleMapping(t *testing.T) {
	groups, err := auth.ParseGroupRoles(auth.DefaultGroupRoles)
	require.NoError(t, err)
	m := auth.RoleMapping{ScopePrefixes: []string{"estate/"}, Groups: groups}
	tests := []struct {
		name   string
		scopes []string
		groups []string
		want   []string
	}{
		{name: "nothing", want: nil},
		{name: "bare role scope", scopes: []string{"openid", "telemetry.write"}, want: []string{"telemetry.write"}},
		{name: "prefixed role scope", scopes: []string{"estate/events.write"}, want: []string{"events.write"}},
		{name: "other resource server", scopes: []string{"other/events.write"}, want: nil},
		{name: "unknown role after the prefix", scopes: []string{"estate/root"}, want: nil},
		{name: "sre group", groups: []string{"estate-sre"}, want: []string{"chaos.halt", "chaos.operate", "observability.read"}},
		{name: "oncall group", groups: []string{"estate-oncall"}, want: []string{"chaos.halt", "observability.read"}},
		{name: "unknown group", groups: []string{"estate-interns"}, want: nil},
		{
			name:   "scopes and groups merge without duplicates",
			scopes: []string{"observability.read", "estate/reports.read"},
			groups: []string{"estate-oncall", "estate-leadership"},
			want:   []string{"chaos.halt", "observability.read", "reports.read"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Empty(t, cmp.Diff(tc.want, m.Roles(tc.scopes, tc.groups)))
		})
	}
}

func TestParseGroupRoles(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string][]string
		wantErr string
	}{
		{name: "empty", in: "", want: map[string][]string{}},
		{
			name: "two groups with spaces",
			in:   " ops = chaos.halt , observability.read ; boss=admin;",
			want: map[string][]string{"ops": {"chaos.halt", "observability.read"}, "boss": {"admin"}},
		},
		{name: "unknown role", in: "ops=chaos.halt,root", wantErr: `group "ops": unknown role "root"`},
		{name: "no equals sign", in: "ops", wantErr: `entry "ops": want group=role,role`},
		{name: "no group", in: "=admin", wantErr: `entry "=admin": want group=role,role`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.ParseGroupRoles(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(tc.want, got))
		})
	}
}

func TestHasRole(t *testing.T) {
	p := auth.Principal{Roles: []string{auth.RoleChaosHalt}}
	require.True(t, p.HasRole(auth.RoleChaosHalt))
	require.False(t, p.HasRole(auth.RoleChaosOperate))
	admin := auth.Principal{Roles: []string{auth.RoleAdmin}}
	for _, r := range auth.Roles {
		require.True(t, admin.HasRole(r), r)
	}
	require.False(t, auth.Principal{}.HasRole(auth.RoleReportsRead))
}

func TestConfigValidateGroupRoles(t *testing.T) {
	c := auth.Config{Dev: true, BusinessClaim: "custom:business_id", GroupRoles: "ops=chaos.stop"}
	require.ErrorContains(t, c.Validate(), `auth.group_roles: group "ops": unknown role "chaos.stop"`)
	c.GroupRoles = auth.DefaultGroupRoles
	require.NoError(t, c.Validate())
}

// TestVerifyRoles reads roles from a Cognito-shaped access token: groups in
// cognito:groups, resource-server scopes with a prefix.
func TestVerifyRoles(t *testing.T) {
	p := newIDP(t)
	v := auth.NewFromConfig(auth.Config{
		Issuer: issuer, JWKSURL: p.srv.URL, TokenUse: "access", BusinessClaim: "custom:business_id",
		ScopePrefix: "estate/", GroupsClaim: "cognito:groups", GroupRoles: "estate-oncall=chaos.halt",
	}, nil, p.srv.Client(), func() time.Time { return now })
	tok := sign(t, p.key("k1"), "k1", claims(func(c jwt.MapClaims) {
		c["scope"] = "openid estate/observability.read"
		c["cognito:groups"] = []string{"estate-oncall", "unrelated"}
	}))
	got, err := v.Verify(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, []string{"chaos.halt", "observability.read"}, got.Roles)
	require.True(t, got.HasRole(auth.RoleChaosHalt))
	require.False(t, got.HasRole(auth.RoleChaosOperate))

	// The development issuer writes groups where Cognito does.
	d, err := auth.OpenDevIssuer(t.TempDir(), func() time.Time { return now })
	require.NoError(t, err)
	dv := auth.NewFromConfig(auth.Config{Dev: true, GroupRoles: auth.DefaultGroupRoles}, d, nil, func() time.Time { return now })
	dt, err := d.Sign(auth.TokenRequest{Subject: "boss", Groups: []string{"estate-admin"}})
	require.NoError(t, err)
	got, err = dv.Verify(context.Background(), dt)
	require.NoError(t, err)
	require.Equal(t, []string{auth.RoleAdmin}, got.Roles)
	require.True(t, got.HasRole(auth.RoleChaosOperate))
}
