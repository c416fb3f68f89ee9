{{/* The collector's options: its listeners, bounds, event store and backends. */}}
{{- define "estate.collectorEnv" -}}
{{- $c := .Values.collector -}}
- name: ESTATE_COLLECTOR_LISTEN_ADDR
  value: ":8088"
- name: ESTATE_COLLECTOR_OTLP_GRPC_LISTEN_ADDR
  value: ":4317"
- name: ESTATE_COLLECTOR_OTLP_HTTP_LISTEN_ADDR
  value: ":4318"
- name: ESTATE_COLLECTOR_QUEUE_MAX_BYTES
  value: {{ include "estate.bytes" $c.queue.maxSize | quote }}
- name: ESTATE_COLLECTOR_QUEUE_DURABILITY
  value: {{ $c.queue.durability | quote }}
- name: ESTATE_COLLECTOR_QUEUE_WHEN_FULL
  value: {{ $c.queue.whenFull | quote }}
- name: ESTATE_COLLECTOR_STORE_MAX_BYTES
  value: {{ include "estate.bytes" $c.store.maxSize | quote }}
- name: ESTATE_COLLECTOR_STORE_MAX_AGE
  value: {{ $c.store.maxAge | quote }}
- name: ESTATE_COLLECTOR_STORE_SIGNALS
  value: {{ join "," $c.store.signals | quote }}
- name: ESTATE_COLLECTOR_TSDB_MAX_BYTES
  value: {{ include "estate.bytes" $c.tsdb.maxSize | quote }}
- name: ESTATE_COLLECTOR_TSDB_RETENTION
  value: {{ $c.tsdb.retention | quote }}
- name: ESTATE_COLLECTOR_TSDB_MAX_SERIES
  value: {{ int64 $c.tsdb.maxSeries | quote }}
- name: ESTATE_COLLECTOR_RULES_EXTERNAL_LABELS
  value: {{ printf "environment=%s" .Values.environment | quote }}
- name: ESTATE_COLLECTOR_MEMORY_MAX_INFLIGHT_BYTES
  value: {{ include "estate.bytes" $c.memory.maxInflight | quote }}
{{- include "estate.secretEnv" (dict "name" "ESTATE_EVENTS_POSTGRES_DSN" "ref" $c.events.postgres) }}
{{- include "estate.secretEnv" (dict "name" "ESTATE_EVENTS_GITHUB_SECRET" "ref" $c.events.github) }}
{{- include "estate.secretEnv" (dict "name" "ESTATE_EVENTS_CIRCLECI_SECRET" "ref" $c.events.circleci) }}
{{- with .Values.prometheus.url }}
- name: ESTATE_SLO_PROMETHEUS_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.alertmanager.url }}
- name: ESTATE_COLLECTOR_RULES_ALERTMANAGER_URL
  value: {{ . | quote }}
{{- end }}
{{- $es := .Values.elasticsearch }}
{{- if $es.url }}
- name: ESTATE_ELASTICSEARCH_URL
  value: {{ $es.url | quote }}
- name: ESTATE_ELASTICSEARCH_MODE
  value: {{ $es.mode | quote }}
- name: ESTATE_ELASTICSEARCH_NAMESPACE
  value: {{ $es.namespace | quote }}
{{- if eq $es.auth.type "basic" }}
{{- include "estate.secretEnv" (dict "name" "ESTATE_ELASTICSEARCH_USERNAME" "ref" (dict "existingSecret" $es.auth.existingSecret "key" $es.auth.usernameKey)) }}
{{- include "estate.secretEnv" (dict "name" "ESTATE_ELASTICSEARCH_PASSWORD" "ref" (dict "existingSecret" $es.auth.existingSecret "key" $es.auth.passwordKey)) }}
{{- else if eq $es.auth.type "apiKey" }}
{{- include "estate.secretEnv" (dict "name" "ESTATE_ELASTICSEARCH_API_KEY" "ref" (dict "existingSecret" $es.auth.existingSecret "key" $es.auth.apiKeyKey)) }}
{{- else if eq $es.auth.type "awsSigV4" }}
- name: ESTATE_ELASTICSEARCH_AWS_SIGV4
  value: "true"
- name: ESTATE_ELASTICSEARCH_AWS_SERVICE
  value: {{ $es.auth.awsService | quote }}
{{- with $es.auth.awsRegion }}
- name: ESTATE_ELASTICSEARCH_AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.jaeger.endpoint }}
- name: ESTATE_JAEGER_ENDPOINT
  value: {{ . | quote }}
- name: ESTATE_JAEGER_TLS
  value: {{ $.Values.jaeger.tls | quote }}
{{- end }}
{{- $rw := .Values.prometheus.remoteWrite }}
{{- if $rw.url }}
- name: ESTATE_PROMETHEUS_REMOTE_WRITE_URL
  value: {{ $rw.url | quote }}
{{- with $rw.username }}
- name: ESTATE_PROMETHEUS_REMOTE_WRITE_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- include "estate.secretEnv" (dict "name" "ESTATE_PROMETHEUS_REMOTE_WRITE_PASSWORD" "ref" (dict "existingSecret" $rw.existingSecret "key" $rw.passwordKey)) }}
{{- end }}
{{- end -}}
