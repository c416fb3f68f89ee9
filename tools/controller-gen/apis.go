//go:build tools

// Package apis pins the API modules whose CRDs scripts/lib.sh generates
// with controller-gen (ensure_crds): importing them keeps them in go.mod,
// whose versions are the CRDs' versions. The build tag keeps it out of
// every build; go mod tidy still sees the imports.
package apis

import (
	_ "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1beta1"
)
