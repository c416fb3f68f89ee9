// Package chaos is the home of Estate's chaos controller: the experiment model
// (a fault on Chaos Mesh's API types, a target, a duration, a steady-state
// hypothesis and abort conditions), the controller that runs, journals and
// aborts experiments and schedules game days, and its executors beneath it:
// one that creates Chaos Mesh custom resources on Kubernetes and one that
// injects the same faults into local services.
//
// It holds no service code and no metric maths: an experiment checks its
// hypothesis through the metrics and SLO packages and reports what it did as
// events to the collector.
package chaos
