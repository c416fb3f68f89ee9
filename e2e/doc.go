// Package e2e holds end-to-end tests of the estate binary against real
// backends where they run here (Jaeger v2, Prometheus) and the Elasticsearch
// protocol double where they do not: the zero-loss harness, which streams
// logs and spans through `estate collector` while the collector is killed
// and its backends fail, and a real Prometheus scraping the collector.
package e2e
