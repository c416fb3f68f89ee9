// Package hooks holds the rollback hooks of post-deploy analysis: the
// adapters that ask another system to roll a failed deployment back, each
// a rollout.Hook. Webhook POSTs the recommendation as JSON signed as the
// estate's other webhooks are; GitHub dispatches a GitHub Actions
// workflow; CircleCI triggers a pipeline; Argo aborts an Argo Rollouts
// Rollout through the Kubernetes API, as `kubectl argo rollouts abort`
// does.
//
// A hook asks once per Call and classifies its failure as
// internal/delivery does (permanent, throttled with the receiver's delay,
// or worth retrying); retries, once-only bookkeeping and dry runs belong
// to the caller. Credentials never appear in an error. See
// docs/rollout.md, "Rollback hooks".
package hooks
