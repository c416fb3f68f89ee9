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
{{ include "estate.rolloutEnv" . }}
{{- end -}}

{{/*
The post-deploy analysis (--rollout.*) and its rollback hooks
(--rollout.hooks.*). A hook's options are given only when the hook is on;
its credential is a file of the rollout-hooks volume, which the hook reads
at each call, so a rotated Secret takes effect without a restart.
*/}}
{{- define "estate.rolloutEnv" -}}
{{- $r := .Values.collector.rollout -}}
- name: ESTATE_ROLLOUT_ENABLED
  value: {{ $r.enabled | quote }}
{{- if $r.enabled }}
- name: ESTATE_ROLLOUT_WINDOW
  value: {{ $r.window | quote }}
{{- with $r.windows }}
{{- $windows := list }}
{{- range $svc, $d := . }}{{ $windows = append $windows (printf "%s=%s" $svc $d) }}{{ end }}
- name: ESTATE_ROLLOUT_WINDOWS
  value: {{ join "," $windows | quote }}
{{- end }}
- name: ESTATE_ROLLOUT_ENVIRONMENTS
  value: {{ join "," ($r.environments | default (list .Values.environment)) | quote }}
- name: ESTATE_ROLLOUT_INTERVAL
  value: {{ $r.interval | quote }}
- name: ESTATE_ROLLOUT_DRY_RUN
  value: {{ $r.dryRun | quote }}
{{- $h := $r.hooks }}
{{- $dir := include "estate.rolloutHooksDir" . }}
{{- with $h.webhook.url }}
- name: ESTATE_ROLLOUT_HOOKS_WEBHOOK_URL
  value: {{ . | quote }}
- name: ESTATE_ROLLOUT_HOOKS_WEBHOOK_SECRET_FILE
  value: {{ printf "%s/webhook-secret" $dir | quote }}
{{- end }}
{{- with $h.github.repo }}
- name: ESTATE_ROLLOUT_HOOKS_GITHUB_REPO
  value: {{ . | quote }}
- name: ESTATE_ROLLOUT_HOOKS_GITHUB_WORKFLOW
  value: {{ $h.github.workflow | quote }}
- name: ESTATE_ROLLOUT_HOOKS_GITHUB_REF
  value: {{ $h.github.ref | quote }}
- name: ESTATE_ROLLOUT_HOOKS_GITHUB_API_URL
  value: {{ $h.github.apiUrl | quote }}
- name: ESTATE_ROLLOUT_HOOKS_GITHUB_TOKEN_FILE
  value: {{ printf "%s/github-token" $dir | quote }}
{{- end }}
{{- with $h.circleci.projectSlug }}
- name: ESTATE_ROLLOUT_HOOKS_CIRCLECI_PROJECT_SLUG
  value: {{ . | quote }}
{{- with $h.circleci.branch }}
- name: ESTATE_ROLLOUT_HOOKS_CIRCLECI_BRANCH
  value: {{ . | quote }}
{{- end }}
- name: ESTATE_ROLLOUT_HOOKS_CIRCLECI_API_URL
  value: {{ $h.circleci.apiUrl | quote }}
- name: ESTATE_ROLLOUT_HOOKS_CIRCLECI_TOKEN_FILE
  value: {{ printf "%s/circleci-token" $dir | quote }}
{{- end }}
{{- with $h.argo.namespace }}
- name: ESTATE_ROLLOUT_HOOKS_ARGO_NAMESPACE
  value: {{ . | quote }}
- name: ESTATE_ROLLOUT_HOOKS_ARGO_ROLLOUT
  value: {{ $h.argo.rollout | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "estate.rolloutHooksDir" -}}/etc/estate/rollout-hooks{{- end -}}

{{/*
The Secrets of the rollback hooks that are on, as one projected volume
(rendered list), and its mount; both empty when no hook has one.
*/}}
{{- define "estate.rolloutHooksVolume" -}}
{{- $r := .Values.collector.rollout -}}
{{- $h := $r.hooks -}}
{{- $sources := list -}}
{{- if $r.enabled -}}
{{- if $h.webhook.url }}{{ $sources = append $sources (dict "ref" $h.webhook "path" "webhook-secret") }}{{ end -}}
{{- if $h.github.repo }}{{ $sources = append $sources (dict "ref" $h.github "path" "github-token") }}{{ end -}}
{{- if $h.circleci.projectSlug }}{{ $sources = append $sources (dict "ref" $h.circleci "path" "circleci-token") }}{{ end -}}
{{- end -}}
{{- with $sources -}}
- name: rollout-hooks
  projected:
    # 0440: readable by the pod's group (fsGroup) only.
    defaultMode: 288
    sources:
      {{- range . }}
      - secret:
          name: {{ .ref.existingSecret }}
          items:
            - key: {{ .ref.key }}
              path: {{ .path }}
      {{- end }}
{{- end -}}
{{- end -}}

{{- define "estate.rolloutHooksVolumeMount" -}}
{{- if include "estate.rolloutHooksVolume" . -}}
- name: rollout-hooks
  mountPath: {{ include "estate.rolloutHooksDir" . }}
  readOnly: true
{{- end -}}
{{- end -}}
