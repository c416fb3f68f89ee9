package estate_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/estatehq/estate/internal/kubetest"
)

// kubeconfig writes a kubeconfig file for env's API server, as its
// administrator, for helm.
func kubeconfig(t *testing.T, env *kubetest.Env) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: env.Config.CertData, ClientKeyData: env.Config.KeyData, Token: env.Config.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	cfg.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// TestHelmInstallsAndUpgrades installs the chart with every optional part
// on into a real API server with helm itself, then upgrades it to another
// image: the objects are created and patched as a cluster would take them
// (immutable fields, ownership), and the release notes render. The
// migration hooks are left out (--no-hooks): no controller runs their Jobs,
// which helm would wait for; the other tests apply them.
func TestHelmInstallsAndUpgrades(t *testing.T) {
	env := kubetest.Shared(t, bothCRDSets)
	ns, team := env.Namespace(t), env.Namespace(t)
	config := kubeconfig(t, env)
	r := allOn(team)

	out, err := runHelm(t, append([]string{"install", release, ".", "--namespace", ns, "--kubeconfig", config, "--no-hooks"}, r.args...)...)
	require.NoError(t, err)
	require.Contains(t, out, "STATUS: deployed")
	require.Contains(t, out, "collector      http://estate-collector."+ns+".svc:8088")
	require.Contains(t, out, "  - estate-invoicing-postgres")
	require.NotContains(t, out, "WARNING: auth.issuer is empty")
	require.Contains(t, out, "WARNING: chaos.faultSurfaces.enabled")

	sts := &appsv1.StatefulSet{}
	require.NoError(t, env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "estate-collector"}, sts))
	require.Equal(t, "registry.example.com/estate@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", sts.Spec.Template.Spec.Containers[0].Image)

	out, err = runHelm(t, append([]string{"upgrade", release, ".", "--namespace", ns, "--kubeconfig", config, "--no-hooks"},
		append(r.args, "--set", "image.tag=1.2.4", "--set", "image.digest=")...)...)
	require.NoError(t, err)
	require.Contains(t, out, "REVISION: 2")
	require.NoError(t, env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "estate-collector"}, sts))
	require.Equal(t, "registry.example.com/estate:1.2.4", sts.Spec.Template.Spec.Containers[0].Image)
}
