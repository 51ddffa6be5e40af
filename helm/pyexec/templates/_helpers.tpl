{{/* Names, labels and shared pieces of the PyExec chart. */}}

{{- define "pyexec.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pyexec.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "pyexec.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "pyexec.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pyexec.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "pyexec.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "api"). */}}
{{- define "pyexec.selector" -}}
app.kubernetes.io/name: {{ include "pyexec.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "pyexec.componentLabels" -}}
{{ include "pyexec.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Images: the tag defaults to the chart's appVersion. */}}
{{- define "pyexec.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "pyexec.kernelImage" -}}
{{- printf "%s:%s" .Values.kernels.image.repository (default .Chart.AppVersion .Values.kernels.image.tag) -}}
{{- end -}}

{{- define "pyexec.secretName" -}}
{{- default (include "pyexec.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "pyexec.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pyexec.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "pyexec.kernelsNamespace" -}}
{{- default (printf "%s-kernels" .Release.Namespace) .Values.kernels.namespace -}}
{{- end -}}

{{- define "pyexec.gatewayName" -}}
{{- printf "%s-gateway" (include "pyexec.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pyexec.gatewayUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "pyexec.gatewayName" .) .Release.Namespace (int .Values.gateway.port) -}}
{{- end -}}

{{- define "pyexec.dataClaim" -}}
{{- default (printf "%s-data" (include "pyexec.fullname" .)) .Values.storage.existingClaim -}}
{{- end -}}

{{/*
Generated secrets are made once: an upgrade reads them back from the Secret in the cluster
(`lookup`), so the database password and gateway token do not change under running pods.
*/}}
{{- define "pyexec.generated" -}}
{{- if not (hasKey .Values "_generated") -}}
{{- $existing := (lookup "v1" "Secret" .Release.Namespace (include "pyexec.fullname" .)) | default dict -}}
{{- $data := get $existing "data" | default dict -}}
{{- $gen := dict
    "gatewayToken" (get $data "gateway-token" | default "" | b64dec | default (randAlphaNum 48))
    "postgresPassword" (get $data "postgres-password" | default "" | b64dec | default (randAlphaNum 32)) -}}
{{- $_ := set .Values "_generated" $gen -}}
{{- end -}}
{{- end -}}

{{- define "pyexec.gatewayToken" -}}
{{- include "pyexec.generated" . -}}
{{- default .Values._generated.gatewayToken .Values.secrets.gatewayToken -}}
{{- end -}}

{{- define "pyexec.postgresPassword" -}}
{{- include "pyexec.generated" . -}}
{{- default .Values._generated.postgresPassword .Values.postgresql.auth.password -}}
{{- end -}}

{{- define "pyexec.databaseUrl" -}}
{{- if .Values.postgresql.enabled -}}
{{- printf "postgresql://%s:%s@%s-postgresql:5432/%s" .Values.postgresql.auth.username (include "pyexec.postgresPassword" . | urlquery) (include "pyexec.fullname" .) .Values.postgresql.auth.database -}}
{{- else -}}
{{- required "secrets.databaseUrl (or secrets.existingSecret, or postgresql.enabled) is required" .Values.secrets.databaseUrl -}}
{{- end -}}
{{- end -}}

{{- define "pyexec.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://%s-redis:6379/0" (include "pyexec.fullname" .) -}}
{{- else -}}
{{- required "secrets.redisUrl (or secrets.existingSecret, or redis.enabled) is required" .Values.secrets.redisUrl -}}
{{- end -}}
{{- end -}}

{{/* The containers' security context: non-root, nothing to escalate, read-only root. */}}
{{- define "pyexec.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "pyexec.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Settings every PyExec process reads (api, worker, migrations): not secret. */}}
{{- define "pyexec.env" -}}
- name: PYEXEC_DATA_DIR
  value: /var/lib/pyexec
- name: HOME
  value: /tmp
- name: PYEXEC_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "pyexec.secretName" . }}, key: database-url}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ include "pyexec.secretName" . }}, key: redis-url}
{{- with .Values.config.plans }}
- name: PYEXEC_PLANS
  value: {{ toJson . | quote }}
{{- end }}
- name: PYEXEC_JOB_DEFAULT_TIMEOUT
  value: {{ .Values.config.jobDefaultTimeout | quote }}
{{- if .Values.llm.baseUrl }}
- name: OPENAI_BASE_URL
  value: {{ .Values.llm.baseUrl | quote }}
{{- end }}
{{- if .Values.llm.model }}
- name: PYEXEC_LLM_MODEL
  value: {{ .Values.llm.model | quote }}
{{- end }}
{{- if or .Values.llm.apiKey .Values.llm.existingSecretKey }}
- name: OPENAI_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "pyexec.secretName" . }}
      key: {{ default "openai-api-key" .Values.llm.existingSecretKey }}
{{- end }}
{{- range $name, $value := .Values.config.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* Writable places under a read-only root: /tmp and the shared data volume. */}}
{{- define "pyexec.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/pyexec
{{- end -}}

{{- define "pyexec.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSize }}
- name: data
  persistentVolumeClaim:
    claimName: {{ include "pyexec.dataClaim" . }}
{{- end -}}

{{/*
With the chart's own PostgreSQL nothing exists before the install, so no pre-install hook can
migrate: each pod migrates in an init container before it starts (alembic's upgrade is a no-op
on a current schema; see the chart README, "Migrations").
*/}}
{{- define "pyexec.migrateInitContainer" -}}
{{- if .Values.postgresql.enabled }}
initContainers:
  - name: migrate
    image: {{ include "pyexec.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    args: ["migrate"]
    env:
      {{- include "pyexec.env" . | nindent 6 }}
    resources:
      {{- toYaml .Values.migrations.resources | nindent 6 }}
    securityContext:
      {{- include "pyexec.containerSecurityContext" . | nindent 6 }}
    volumeMounts:
      {{- include "pyexec.volumeMounts" . | nindent 6 }}
{{- end }}
{{- end -}}
