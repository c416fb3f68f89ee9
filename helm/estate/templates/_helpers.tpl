{{/*
Names. The prefix is cut to 38 characters so that the longest component
name (<prefix>-report-server) stays within the 52 characters a StatefulSet
or CronJob name may have.
*/}}
{{- define "estate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "estate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 38 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 38 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 38 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of a component's objects: (dict "root" $ "name" "invoicing"). */}}
{{- define "estate.componentName" -}}
{{- printf "%s-%s" (include "estate.fullname" .root) .name -}}
{{- end -}}

{{- define "estate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels. app.kubernetes.io/name is the target (invoicing, collector, ...), as
experiments and dashboards select pods by it; part-of names the estate.
(dict "root" $ "name" "invoicing")
*/}}
{{- define "estate.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "estate.labels" -}}
{{ include "estate.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "estate.name" .root }}
app.kubernetes.io/version: {{ include "estate.imageTag" .root | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "estate.chart" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of objects that belong to no one target. */}}
{{- define "estate.releaseLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: {{ include "estate.name" . }}
app.kubernetes.io/version: {{ include "estate.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "estate.chart" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "estate.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{/*
estate.image is the image a target runs (dict "root" $ "target" "invoicing"):
the services' image for invoicing and credit when one is set, else the
estate image.
*/}}
{{- define "estate.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := $img.repository -}}
{{- $digest := $img.digest -}}
{{- if and $img.services.repository (has .target (list "invoicing" "credit")) -}}
{{- $repo = $img.services.repository -}}
{{- $digest = $img.services.digest -}}
{{- end -}}
{{- if $digest -}}
{{- printf "%s@%s" $repo $digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (include "estate.imageTag" .root) -}}
{{- end -}}
{{- end -}}

{{/*
estate.bytes turns a quantity of bytes (512Mi, 1.5Gi, 1G, 1048576) into its
whole number of bytes, rounded down. A number from a values file arrives as
a float64, which toString would write in exponent form.
*/}}
{{- define "estate.bytes" -}}
{{- $q := . -}}
{{- if kindIs "float64" $q }}{{ $q = int64 $q }}{{ end -}}
{{- $q = toString $q -}}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$" $q) -}}
{{- fail (printf "%q is not a quantity of bytes such as 512Mi, 1.5Gi or 2G" $q) -}}
{{- end -}}
{{- $units := dict "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "P" 1000000000000000 -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $unit := trimPrefix $num $q -}}
{{- if contains "." $num -}}
{{- mulf (float64 $num) (get $units $unit | default 1) | floor | int64 -}}
{{- else -}}
{{- mul (int64 $num) (get $units $unit | default 1) -}}
{{- end -}}
{{- end -}}

{{/* GOMEMLIMIT for a memory limit: goMemLimitPercent of it, in bytes. (dict "root" $ "limit" "256Mi") */}}
{{- define "estate.goMemLimit" -}}
{{- $bytes := include "estate.bytes" .limit | int64 -}}
{{- div (mul $bytes (int64 .root.Values.goMemLimitPercent)) 100 -}}
{{- end -}}

{{/* An environment variable from a Secret's key, when the Secret is named. (dict "name" "ESTATE_X" "ref" .Values.x.postgres) */}}
{{- define "estate.secretEnv" -}}
{{- if .ref.existingSecret }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.existingSecret }}
      key: {{ .ref.key }}
{{- end }}
{{- end -}}

{{/* In-cluster URL of a target's Service. (dict "root" $ "name" "invoicing" "port" 8081) */}}
{{- define "estate.serviceURL" -}}
{{- printf "%s://%s.%s.svc:%v" (include "estate.scheme" .) (include "estate.componentName" .) .root.Release.Namespace .port -}}
{{- end -}}

{{/* The TLS Secret of a target, or nothing. (dict "root" $ "name" "invoicing") */}}
{{- define "estate.tlsSecret" -}}
{{- index (default (dict) .root.Values.tls.secrets) .name | default "" -}}
{{- end -}}

{{/* https when the target serves TLS, else http. (dict "root" $ "name" "invoicing") */}}
{{- define "estate.scheme" -}}
{{- if include "estate.tlsSecret" . }}https{{ else }}http{{ end -}}
{{- end -}}

{{/* The query API that SLOs, probes and reports read: prometheus.url, or the collector's. */}}
{{- define "estate.prometheusURL" -}}
{{- if .Values.prometheus.url -}}
{{- .Values.prometheus.url -}}
{{- else if .Values.collector.enabled -}}
{{- include "estate.serviceURL" (dict "root" . "name" "collector" "port" 8088) -}}
{{- end -}}
{{- end -}}

{{/* The OTLP gRPC endpoint the services export to, or nothing. */}}
{{- define "estate.otlpEndpoint" -}}
{{- if .Values.telemetry.otlpEndpoint -}}
{{- .Values.telemetry.otlpEndpoint -}}
{{- else if .Values.collector.enabled -}}
{{- printf "%s.%s.svc:4317" (include "estate.componentName" (dict "root" . "name" "collector")) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* The OIDC options of the services, the chaos controller and the report server. */}}
{{- define "estate.authEnv" -}}
- name: ESTATE_AUTH_ISSUER
  value: {{ .Values.auth.issuer | quote }}
- name: ESTATE_AUTH_AUDIENCE
  value: {{ join "," .Values.auth.audiences | quote }}
- name: ESTATE_AUTH_JWKS_URL
  value: {{ .Values.auth.jwksUrl | quote }}
- name: ESTATE_AUTH_BUSINESS_CLAIM
  value: {{ .Values.auth.businessClaim | quote }}
- name: ESTATE_AUTH_TOKEN_USE
  value: {{ join "," .Values.auth.tokenUse | quote }}
{{- end -}}

{{/* The telemetry options of the services. */}}
{{- define "estate.telemetryEnv" -}}
- name: ESTATE_TELEMETRY_OTLP_ENDPOINT
  value: {{ include "estate.otlpEndpoint" . | quote }}
- name: ESTATE_TELEMETRY_OTLP_INSECURE
  value: {{ and .Values.telemetry.insecure (or .Values.telemetry.otlpEndpoint (not (include "estate.tlsSecret" (dict "root" . "name" "collector")))) | quote }}
{{- end -}}

{{/*
The restricted Pod Security Standard, for every pod: the image's nonroot
user (65532), the runtime's default seccomp profile; fsGroup makes the
collector's volume writable by that user.
*/}}
{{- define "estate.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "estate.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The seconds a pod sleeps in preStop, so that its endpoints are removed before it stops listening. */}}
{{- define "estate.preStopSeconds" -}}5{{- end -}}

{{/*
estate.pod is the pod template of every target, Job and CronJob.
  root:        $
  name:        target name (invoicing), for labels
  values:      the target's values (resources, nodeSelector, ...)
  args:        the container's arguments
  env:         rendered env entries (a YAML list), beside the common ones
  ports:       list of (dict "name" "http" "port" 8081); empty for Jobs
  probePort:   the port name of /healthz and /readyz; empty for Jobs
  startupFailures: startup probe failures allowed, 2 s apart
  serviceAccount: ServiceAccount name
  automountToken: mount the ServiceAccount's token (only for the API)
  restartPolicy: Always (targets) or OnFailure/Never (Jobs)
  dataVolume:  "pvc" (collector) or "emptyDir"
  dataClaim:   a PersistentVolumeClaim to mount as the data volume instead
  volumes, volumeMounts: more of each, rendered (YAML lists)
  shutdownSeconds: the target's shutdown timeout, for the grace period
  annotations: pod annotations beside values.podAnnotations
*/}}
{{- define "estate.pod" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $tlsSecret := "" -}}
{{- if .probePort }}{{ $tlsSecret = include "estate.tlsSecret" . }}{{ end -}}
metadata:
  labels:
    {{- include "estate.labels" (dict "root" $root "name" .name) | nindent 4 }}
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- $annotations := merge (dict) (default (dict) .annotations) (default (dict) $v.podAnnotations) }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ .serviceAccount }}
  automountServiceAccountToken: {{ .automountToken }}
  {{- with .restartPolicy }}
  restartPolicy: {{ . }}
  {{- end }}
  {{- if .shutdownSeconds }}
  terminationGracePeriodSeconds: {{ add (include "estate.preStopSeconds" .) .shutdownSeconds 10 }}
  {{- end }}
  securityContext:
    {{- include "estate.podSecurityContext" . | nindent 4 }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- range . }}
    - name: {{ . }}
    {{- end }}
  {{- end }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: estate
      image: {{ include "estate.image" (dict "root" $root "target" (first .args)) }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
        {{- with $v.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        - name: GOMEMLIMIT
          value: {{ include "estate.goMemLimit" (dict "root" $root "limit" $v.resources.limits.memory) | quote }}
        - name: ESTATE_DATA_DIR
          value: /var/lib/estate
        - name: ESTATE_LOG_FORMAT
          value: json
        - name: ESTATE_LOG_LEVEL
          value: {{ $root.Values.log.level | quote }}
        {{- if .shutdownSeconds }}
        - name: ESTATE_SHUTDOWN_TIMEOUT
          value: {{ printf "%vs" .shutdownSeconds | quote }}
        {{- end }}
        {{- if $root.Values.trustedCA.existingConfigMap }}
        - name: SSL_CERT_DIR
          value: /etc/ssl/certs:/etc/estate/ca
        {{- end }}
        {{- if $tlsSecret }}
        - name: ESTATE_TLS_CERT_FILE
          value: /etc/estate/tls/tls.crt
        - name: ESTATE_TLS_KEY_FILE
          value: /etc/estate/tls/tls.key
        {{- end }}
        {{- with .env }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .ports }}
      ports:
        {{- range . }}
        - name: {{ .name }}
          containerPort: {{ .port }}
          protocol: TCP
        {{- end }}
      {{- end }}
      {{- if .probePort }}
      startupProbe:
        httpGet:
          path: /healthz
          port: {{ .probePort }}
          scheme: {{ if $tlsSecret }}HTTPS{{ else }}HTTP{{ end }}
        periodSeconds: 2
        timeoutSeconds: 2
        failureThreshold: {{ .startupFailures | default 30 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: {{ .probePort }}
          scheme: {{ if $tlsSecret }}HTTPS{{ else }}HTTP{{ end }}
        periodSeconds: 10
        timeoutSeconds: 2
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: {{ .probePort }}
          scheme: {{ if $tlsSecret }}HTTPS{{ else }}HTTP{{ end }}
        periodSeconds: 5
        timeoutSeconds: 2
        failureThreshold: 2
      lifecycle:
        preStop:
          sleep:
            seconds: {{ include "estate.preStopSeconds" . }}
      {{- end }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- include "estate.containerSecurityContext" . | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        - name: data
          mountPath: /var/lib/estate
        {{- if $root.Values.trustedCA.existingConfigMap }}
        - name: trusted-ca
          mountPath: /etc/estate/ca
          readOnly: true
        {{- end }}
        {{- if $tlsSecret }}
        - name: tls
          mountPath: /etc/estate/tls
          readOnly: true
        {{- end }}
        {{- with .volumeMounts }}
        {{- . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- if .dataClaim }}
    - name: data
      persistentVolumeClaim:
        claimName: {{ .dataClaim }}
    {{- else if ne .dataVolume "pvc" }}
    - name: data
      emptyDir:
        sizeLimit: 1Gi
    {{- end }}
    {{- if $root.Values.trustedCA.existingConfigMap }}
    - name: trusted-ca
      configMap:
        name: {{ $root.Values.trustedCA.existingConfigMap }}
    {{- end }}
    {{- if $tlsSecret }}
    - name: tls
      secret:
        secretName: {{ $tlsSecret }}
    {{- end }}
    {{- with .volumes }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/*
estate.deployment is the Deployment of a stateless target.
  root, name, values, args, env, port: as for estate.pod, with port the
  target's one port (named http); replicas is left to the HPA when
  values.autoscaling.enabled; strategy: RollingUpdate or Recreate;
  extraPorts: more (dict "name" "port") entries; dataClaim: as for
  estate.pod.
*/}}
{{- define "estate.deployment" -}}
{{- $v := .values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "estate.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "estate.labels" . | nindent 4 }}
spec:
  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}
  replicas: {{ .replicas | default $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- if eq (.strategy | default "RollingUpdate") "Recreate" }}
  strategy:
    type: Recreate
  {{- else }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  {{- end }}
  selector:
    matchLabels:
      {{- include "estate.selectorLabels" . | nindent 6 }}
  template:
    {{- $ports := prepend (.extraPorts | default list) (dict "name" "http" "port" .port) }}
    {{- include "estate.pod" (merge (dict "ports" $ports "probePort" "http" "serviceAccount" (include "estate.componentName" .) "automountToken" (.automountToken | default false) "dataVolume" "emptyDir" "shutdownSeconds" $v.shutdownTimeoutSeconds) .) | nindent 4 }}
{{- end -}}

{{/* A target's ServiceAccount. (dict "root" $ "name" "invoicing" "values" .Values.invoicing "automountToken" false) */}}
{{- define "estate.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "estate.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "estate.labels" . | nindent 4 }}
  {{- with .values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .automountToken | default false }}
{{- end -}}

{{/* A target's ClusterIP Service. (dict "root" $ "name" "invoicing" "ports" (list (dict "name" "http" "port" 8081))) */}}
{{- define "estate.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "estate.componentName" . }}{{ .suffix }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "estate.labels" . | nindent 4 }}
    {{- if .headless }}
    estate.dev/headless: "true"
    {{- end }}
spec:
  type: ClusterIP
  {{- if .headless }}
  clusterIP: None
  {{- end }}
  selector:
    {{- include "estate.selectorLabels" . | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
      {{- with .appProtocol }}
      appProtocol: {{ . }}
      {{- end }}
    {{- end }}
{{- end -}}

{{/* A target's PodDisruptionBudget, when values.podDisruptionBudget.enabled. */}}
{{- define "estate.podDisruptionBudget" -}}
{{- if .values.podDisruptionBudget.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "estate.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "estate.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "estate.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A service's HorizontalPodAutoscaler, when values.autoscaling.enabled. */}}
{{- define "estate.horizontalPodAutoscaler" -}}
{{- $a := .values.autoscaling -}}
{{- if $a.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "estate.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "estate.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "estate.componentName" . }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
{{- end }}
{{- end -}}

{{/* The object name of a target given its values key: reportServer is report-server. */}}
{{- define "estate.targetName" -}}
{{- if eq . "reportServer" }}report-server{{ else }}{{ . }}{{ end -}}
{{- end -}}

{{/*
"true" when the collector's post-deploy analysis runs with its Argo
Rollouts hook on: its ServiceAccount then gets a Role in the Rollouts'
namespace and mounts its token; else "false".
*/}}
{{- define "estate.argoHookOn" -}}
{{- $c := .Values.collector -}}
{{- and $c.enabled $c.rollout.enabled (ne $c.rollout.hooks.argo.namespace "") | toString -}}
{{- end -}}
