{{/*
estate.validate fails the render on combinations of values that cannot
work, naming the values at fault. The schema checks each value alone.
*/}}
{{- define "estate.validate" -}}
{{- $c := .Values.collector -}}
{{- if $c.enabled -}}
{{- if and (gt (int $c.replicas) 1) (not $c.events.postgres.existingSecret) -}}
{{- fail (printf "collector.replicas is %v but collector.events.postgres.existingSecret is empty: replicas would each keep their own events in SQLite; name the Secret of a PostgreSQL DSN" $c.replicas) -}}
{{- end -}}
{{- $disk := include "estate.bytes" $c.persistence.size | int64 -}}
{{- $need := add (include "estate.bytes" $c.queue.maxSize | int64) (include "estate.bytes" $c.store.maxSize | int64) (include "estate.bytes" $c.tsdb.maxSize | int64) -}}
{{- if lt $disk $need -}}
{{- fail (printf "collector.persistence.size (%s) is smaller than collector.queue.maxSize + collector.store.maxSize + collector.tsdb.maxSize (%s + %s + %s)" $c.persistence.size $c.queue.maxSize $c.store.maxSize $c.tsdb.maxSize) -}}
{{- end -}}
{{- $limit := include "estate.bytes" $c.resources.limits.memory | int64 -}}
{{- if gt (mul (include "estate.bytes" $c.memory.maxInflight | int64) 2) $limit -}}
{{- fail (printf "collector.memory.maxInflight (%s) must be at most half of collector.resources.limits.memory (%s): requests in flight are held in memory" $c.memory.maxInflight $c.resources.limits.memory) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.reportServer.enabled (not (and $c.enabled $c.events.postgres.existingSecret)) -}}
{{- fail "reportServer.enabled needs the collector's event store in PostgreSQL, which the report reads: enable the collector and set collector.events.postgres.existingSecret" -}}
{{- end -}}
{{- if and .Values.reportServer.enabled .Values.reportServer.weeklyReport.enabled (not .Values.reportServer.weeklyReport.token.existingSecret) -}}
{{- fail "reportServer.weeklyReport.token.existingSecret must name the Secret of an admin bearer token: the CronJob asks the report server to publish each week" -}}
{{- end -}}
{{- if gt (int .Values.reportServer.replicas) 1 -}}
{{- fail (printf "reportServer.replicas (%d) must be 0 or 1: the report archive is one ReadWriteOnce volume, and each report server archives on its own schedule" (int .Values.reportServer.replicas)) -}}
{{- end -}}
{{- range $key := list "invoicing" "credit" -}}
{{- $v := index $.Values $key -}}
{{- if and $v.enabled (not $v.postgres.existingSecret) -}}
{{- fail (printf "%s.postgres.existingSecret is empty: its pods keep nothing on disk, so its database must be PostgreSQL; name the Secret holding the DSN" $key) -}}
{{- end -}}
{{- end -}}
{{- if gt (len .Values.chaos.kubernetes.namespaces) 1 -}}
{{- fail (printf "chaos.kubernetes.namespaces lists %d namespaces, but the chaos controller keeps its Chaos Mesh objects in one namespace or needs to list them cluster-wide: list the one namespace its objects live in (they may select pods of other namespaces)" (len .Values.chaos.kubernetes.namespaces)) -}}
{{- end -}}
{{- if and .Values.chaos.faultSurfaces.enabled (not .Values.chaos.enabled) -}}
{{- fail "chaos.faultSurfaces.enabled needs chaos.enabled: only the chaos controller uses the fault control ports" -}}
{{- end -}}
{{- range $name := list "invoicing" "credit" -}}
{{- $a := (index $.Values $name).autoscaling -}}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- fail (printf "%s.autoscaling.minReplicas (%v) is above %s.autoscaling.maxReplicas (%v)" $name $a.minReplicas $name $a.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- $es := .Values.elasticsearch.auth -}}
{{- if and .Values.elasticsearch.url (has $es.type (list "basic" "apiKey")) (not $es.existingSecret) -}}
{{- fail (printf "elasticsearch.auth.type is %s but elasticsearch.auth.existingSecret is empty: name the Secret holding the credentials" $es.type) -}}
{{- end -}}
{{- if and .Values.prometheus.remoteWrite.username (not .Values.prometheus.remoteWrite.existingSecret) -}}
{{- fail "prometheus.remoteWrite.username is set but prometheus.remoteWrite.existingSecret is empty: name the Secret holding the password" -}}
{{- end -}}
{{- if and $c.enabled $c.rollout.enabled -}}
{{- include "estate.validateRolloutHooks" $c.rollout.hooks -}}
{{- end -}}
{{- if and .Values.ingress.enabled (empty .Values.ingress.hosts) -}}
{{- fail "ingress.enabled needs at least one entry in ingress.hosts" -}}
{{- end -}}
{{- range $h := .Values.ingress.hosts -}}
{{- range $p := $h.paths -}}
{{- if not (index $.Values $p.target).enabled -}}
{{- fail (printf "ingress.hosts: %s%s routes to %s, which is not enabled" $h.host $p.path $p.target) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
A rollback hook's values need the one that turns it on, and a hook that is
on needs its credential's Secret: the collector would refuse to start.
*/}}
{{- define "estate.validateRolloutHooks" -}}
{{- $p := "collector.rollout.hooks" -}}
{{- range $hook, $on := dict "webhook" "url" "github" "repo" "circleci" "projectSlug" -}}
{{- $v := index $ $hook -}}
{{- if and (index $v $on) (not $v.existingSecret) -}}
{{- fail (printf "%s.%s.%s is set but %s.%s.existingSecret is empty: name the Secret holding its %s" $p $hook $on $p $hook (ternary "signing secret" "token" (eq $hook "webhook"))) -}}
{{- end -}}
{{- range $key := list "existingSecret" "workflow" "branch" -}}
{{- if and (hasKey $v $key) (index $v $key) (not (index $v $on)) -}}
{{- fail (printf "%s.%s.%s is set but %s.%s.%s is empty, which turns the hook on" $p $hook $key $p $hook $on) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .github.repo (not .github.workflow) -}}
{{- fail (printf "%s.github.repo is set but %s.github.workflow is empty: name the workflow's file (rollback.yml) or id" $p $p) -}}
{{- end -}}
{{- end -}}
