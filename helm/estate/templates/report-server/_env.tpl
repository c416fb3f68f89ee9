{{/* The report server's and the weekly report's options: the archive, the event store, the SLOs' query API. */}}
{{- define "estate.reportEnv" -}}
{{- $v := .Values.reportServer -}}
{{- include "estate.secretEnv" (dict "name" "ESTATE_EVENTS_POSTGRES_DSN" "ref" .Values.collector.events.postgres) }}
{{- with include "estate.prometheusURL" . }}
- name: ESTATE_SLO_PROMETHEUS_URL
  value: {{ . | quote }}
{{- end }}
{{- /* The report server has no sign-in of its own yet: keep it behind the Ingress's or the network's. */}}
{{- end -}}
