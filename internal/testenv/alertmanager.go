package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// StartAlertmanager runs the real Alertmanager (ESTATE_ALERTMANAGER_BIN,
// else prometheus-alertmanager on PATH), alone (no cluster), on a free
// loopback port, until the test ends. Its one receiver is the webhook at
// webhookURL, which it sends resolved alerts too; alerts are grouped by
// alertname, a group's first notification goes after 100 ms, the next
// ones after 500 ms, repeats after an hour. It returns the Alertmanager's
// base URL once it is ready, and its log so far, which says whether a
// notification failed.
func StartAlertmanager(t testing.TB, webhookURL string) (base string, output func() string) {
	t.Helper()
	bin := Binary(t, "prometheus-alertmanager", "ESTATE_ALERTMANAGER_BIN", "apt-get install prometheus-alertmanager")
	dir := t.TempDir()
	file := filepath.Join(dir, "alertmanager.yml")
	config := fmt.Sprintf(`route:
  receiver: estate
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 500ms
  repeat_interval: 1h
receivers:
- name: estate
  webhook_configs:
  - url: %s
    send_resolved: true
`, webhookURL)
	if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
		t.Fatalf("writing the Alertmanager configuration: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	base = "http://" + addr
	output = StartDaemon(t, bin, []string{"--config.file=" + file, "--storage.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--cluster.listen-address="}, base+"/-/ready")
	return base, output
}
