{{/*
The invoicing and credit services share one shape: a Deployment with its
ServiceAccount, Service, PodDisruptionBudget and HorizontalPodAutoscaler, a
headless Service for the fault control port, and the migration Job.
  root, name, values; port: the API port; faultPort: the fault control port;
  env: the service's own options, beside those estate.serviceTargetEnv gives.
*/}}

{{/* The options every service has: listener, database, rate limit, fault port, auth, telemetry. */}}
{{- define "estate.serviceTargetEnv" -}}
{{- $prefix := printf "ESTATE_%s" (upper .name) -}}
- name: {{ $prefix }}_LISTEN_ADDR
  value: {{ printf ":%v" .port | quote }}
- name: {{ $prefix }}_RATE_LIMIT
  value: {{ .values.rateLimit | quote }}
- name: {{ $prefix }}_RATE_BURST
  value: {{ int64 .values.rateBurst | quote }}
{{- if .root.Values.chaos.faultSurfaces.enabled }}
- name: {{ $prefix }}_FAULT_LISTEN_ADDR
  value: {{ printf ":%v" .faultPort | quote }}
{{- end }}
{{- include "estate.secretEnv" (dict "name" (printf "%s_POSTGRES_DSN" $prefix) "ref" .values.postgres) }}
{{ include "estate.authEnv" .root }}
{{ include "estate.telemetryEnv" .root }}
{{- end -}}

{{- define "estate.serviceTarget" -}}
{{- $faultOn := .root.Values.chaos.faultSurfaces.enabled -}}
{{- $extraPorts := list -}}
{{- if $faultOn }}{{ $extraPorts = list (dict "name" "fault" "port" .faultPort) }}{{ end -}}
{{ include "estate.serviceAccount" . }}
---
{{ include "estate.deployment" (merge (dict "args" (list .name) "extraPorts" $extraPorts) .) }}
---
{{ include "estate.service" (merge (dict "ports" (list (dict "name" "http" "port" .port "appProtocol" "http"))) .) }}
{{- if $faultOn }}
---
# The fault control port of every replica (headless: one address per pod),
# for the chaos controller only.
{{ include "estate.service" (merge (dict "ports" (list (dict "name" "fault" "port" .faultPort "appProtocol" "http")) "headless" true "suffix" "-fault") .) }}
{{- end }}
{{- with include "estate.podDisruptionBudget" . }}
---
{{ . }}
{{- end }}
{{- with include "estate.horizontalPodAutoscaler" . }}
---
{{ . }}
{{- end }}
{{- if .root.Values.migrations.enabled }}
---
{{ include "estate.migrationJob" . }}
{{- end }}
{{- end -}}

{{/*
The Job that applies a service's migrations before an install or upgrade
reaches its pods. The migrator holds a PostgreSQL advisory lock, so a Job
and a starting pod never migrate at once.
*/}}
{{- define "estate.migrationJob" -}}
{{- $root := .root -}}
{{- $m := $root.Values.migrations -}}
{{- $jobCtx := dict "root" $root "name" (printf "%s-migrate" .name) "values" (dict "resources" $m.resources "nodeSelector" .values.nodeSelector "tolerations" .values.tolerations "affinity" .values.affinity "priorityClassName" .values.priorityClassName) -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "estate.componentName" $jobCtx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "estate.labels" $jobCtx | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    # A failed Job stays for its logs until the next attempt replaces it.
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $m.backoffLimit }}
  activeDeadlineSeconds: {{ $m.activeDeadlineSeconds }}
  template:
    {{- $env := include "estate.secretEnv" (dict "name" (printf "ESTATE_%s_POSTGRES_DSN" (upper .name)) "ref" .values.postgres) | trim }}
    {{- include "estate.pod" (merge (dict "args" (list .name "migrate") "env" $env "serviceAccount" (include "estate.componentName" (dict "root" $root "name" "migrate")) "automountToken" false "restartPolicy" "Never" "dataVolume" "emptyDir") $jobCtx) | nindent 4 }}
{{- end -}}
