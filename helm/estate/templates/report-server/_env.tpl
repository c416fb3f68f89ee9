{{/* The report server's and the weekly report's options: the archive, the event store, the SLOs' query API. */}}
{{- define "estate.reportEnv" -}}
{{- $v := .Values.reportServer -}}
- name: ESTATE_REPORT_SCHEDULE
  value: ""
{{- include "estate.secretEnv" (dict "name" "ESTATE_REPORT_POSTGRES_DSN" "ref" $v.postgres) }}
{{- include "estate.secretEnv" (dict "name" "ESTATE_EVENTS_POSTGRES_DSN" "ref" .Values.collector.events.postgres) }}
{{- with include "estate.prometheusURL" . }}
- name: ESTATE_SLO_PROMETHEUS_URL
  value: {{ . | quote }}
{{- end }}
{{ include "estate.authEnv" . }}
{{- end -}}
