{{/*
Shared named templates. Every service is rendered from the same templates by passing
a context dict: (dict "root" $ "name" "<service>" "svc" .Values.services.<service>).
*/}}

{{- define "mediatasks.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<chart>" unless the release name already contains the chart name. */}}
{{- define "mediatasks.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "mediatasks.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of a component's resources: "<fullname>-<component>". Context: (dict "root" $ "name" ...). */}}
{{- define "mediatasks.componentName" -}}
{{- printf "%s-%s" (include "mediatasks.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mediatasks.labels" -}}
helm.sh/chart: {{ include "mediatasks.chart" . }}
app.kubernetes.io/name: {{ include "mediatasks.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mediatasks
{{- end -}}

{{/* Labels of one component. Context: (dict "root" $ "name" ...). */}}
{{- define "mediatasks.componentLabels" -}}
{{ include "mediatasks.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Pod selector of one component (stable across upgrades). Context: (dict "root" $ "name" ...). */}}
{{- define "mediatasks.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mediatasks.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "mediatasks.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mediatasks.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mediatasks.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* "initContainer" or "hook": how migrations run (see migrations.strategy). */}}
{{- define "mediatasks.migrationStrategy" -}}
{{- if eq .Values.migrations.strategy "auto" -}}
{{- ternary "initContainer" "hook" .Values.postgresql.enabled -}}
{{- else -}}
{{- .Values.migrations.strategy -}}
{{- end -}}
{{- end -}}

{{/* Service names of the subcharts, as their own fullname helpers compute them. */}}
{{- define "mediatasks.natsHost" -}}
{{- if contains "nats" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-nats" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mediatasks.postgresqlHost" -}}
{{- if contains "postgresql" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-postgresql" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mediatasks.authSecretName" -}}
{{- default (printf "%s-auth" (include "mediatasks.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* host:port other services use to reach a service. Context: (dict "root" $ "name" ...). */}}
{{- define "mediatasks.serviceAddr" -}}
{{- printf "%s:%v" (include "mediatasks.componentName" .) .root.Values.ports.grpc -}}
{{- end -}}

{{/* MEDIATASKS_NATS_URL. Context: the root. */}}
{{- define "mediatasks.natsEnv" -}}
{{- if .Values.nats.enabled }}
- name: MEDIATASKS_NATS_URL
  value: {{ printf "nats://%s:4222" (include "mediatasks.natsHost" .) | quote }}
{{- else if .Values.externalNats.existingSecret }}
- name: MEDIATASKS_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalNats.existingSecret }}
      key: {{ .Values.externalNats.existingSecretKey }}
{{- else if .Values.externalNats.url }}
- name: MEDIATASKS_NATS_URL
  value: {{ .Values.externalNats.url | quote }}
{{- else }}
{{- fail "set externalNats.url, externalNats.existingSecret or nats.enabled" }}
{{- end }}
{{- if .Values.externalNats.credentialsSecret }}
- name: MEDIATASKS_NATS_CREDS_FILE
  value: {{ printf "/etc/mediatasks/nats/%s" .Values.externalNats.credentialsSecretKey | quote }}
{{- end }}
{{- end -}}

{{/* The NATS credentials file's volume mount and volume, when externalNats.credentialsSecret is set. Context: the root. */}}
{{- define "mediatasks.natsCredsMount" -}}
{{- if .Values.externalNats.credentialsSecret }}
- name: nats-creds
  mountPath: /etc/mediatasks/nats
  readOnly: true
{{- end }}
{{- end -}}

{{- define "mediatasks.natsCredsVolume" -}}
{{- if .Values.externalNats.credentialsSecret }}
- name: nats-creds
  secret:
    secretName: {{ .Values.externalNats.credentialsSecret }}
    items:
      - key: {{ .Values.externalNats.credentialsSecretKey }}
        path: {{ .Values.externalNats.credentialsSecretKey }}
{{- end }}
{{- end -}}

{{/*
MEDIATASKS_DATABASE_URL for the registry and the migrations. Context: (dict "root" $
"secret" <Secret holding the URL when externalDatabase.url is set>).
*/}}
{{- define "mediatasks.databaseEnv" -}}
{{- $root := .root -}}
{{- if $root.Values.postgresql.enabled }}
{{- $pg := $root.Values.postgresql.auth }}
# Kubernetes expands $(DATABASE_PASSWORD) from the variable above it; the Bitnami chart
# generates an alphanumeric password, so it needs no URL escaping.
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default (include "mediatasks.postgresqlHost" $root) $pg.existingSecret }}
      key: password
- name: MEDIATASKS_DATABASE_URL
  value: {{ printf "postgresql+psycopg://%s:$(DATABASE_PASSWORD)@%s:5432/%s" $pg.username (include "mediatasks.postgresqlHost" $root) $pg.database | quote }}
{{- else if $root.Values.externalDatabase.url }}
- name: MEDIATASKS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: database-url
{{- else if $root.Values.externalDatabase.existingSecret }}
- name: MEDIATASKS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.externalDatabase.existingSecret }}
      key: {{ $root.Values.externalDatabase.existingSecretKey }}
{{- else }}
{{- fail "set externalDatabase.url, externalDatabase.existingSecret or postgresql.enabled" }}
{{- end }}
{{- end -}}

{{/* Name -> {name, key} secret references as env entries. Context: the map. */}}
{{- define "mediatasks.secretEnv" -}}
{{- range $env, $ref := . }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
      {{- if hasKey $ref "optional" }}
      optional: {{ $ref.optional }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* Name -> value settings as env entries. Context: the map. */}}
{{- define "mediatasks.plainEnv" -}}
{{- range $env, $value := . }}
- name: {{ $env }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/*
The environment of one mediatasks service container. Context: (dict "root" $ "name"
<service> "svc" <its values block>).
*/}}
{{- define "mediatasks.serviceEnv" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $values := $root.Values -}}
- name: MEDIATASKS_GRPC_PORT
  value: {{ $values.ports.grpc | quote }}
- name: MEDIATASKS_METRICS_PORT
  value: {{ $values.ports.metrics | quote }}
- name: MEDIATASKS_LOG_LEVEL
  value: {{ $values.config.logLevel | quote }}
- name: MEDIATASKS_LOG_JSON
  value: {{ $values.config.logJson | quote }}
- name: MEDIATASKS_SHUTDOWN_GRACE_SECONDS
  value: {{ $svc.shutdownGraceSeconds | quote }}
- name: MEDIATASKS_WORK_DIR
  value: /tmp
- name: MEDIATASKS_AUTH_DISABLED
  value: {{ $values.auth.disabled | quote }}
{{- range $other := keys $values.services | sortAlpha }}
- name: {{ printf "MEDIATASKS_%s_ADDR" (upper $other) }}
  value: {{ include "mediatasks.serviceAddr" (dict "root" $root "name" $other) | quote }}
{{- end }}
{{- include "mediatasks.natsEnv" $root }}
{{- if eq .name "registry" }}
{{- include "mediatasks.databaseEnv" (dict "root" $root "secret" (printf "%s-database" (include "mediatasks.fullname" $root))) }}
{{- end }}
{{- if $svc.taskTypes }}
- name: MEDIATASKS_WORKER_CONCURRENCY
  value: {{ default 4 $svc.workerConcurrency | quote }}
{{- end }}
- name: MEDIATASKS_JWT_HS256_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "mediatasks.authSecretName" $root }}
      key: {{ $values.auth.jwtSecretKey }}
      optional: true
- name: MEDIATASKS_INTERNAL_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "mediatasks.authSecretName" $root }}
      key: {{ $values.auth.internalTokenKey }}
{{- range $env := $svc.providerKeys }}
{{- if not (hasKey $values.providers.keys $env) }}
{{- fail (printf "services.%s.providerKeys: %s is not in providers.keys" $.name $env) }}
{{- end }}
- name: {{ $env }}
  valueFrom:
    secretKeyRef:
      name: {{ $values.providers.existingSecret }}
      key: {{ index $values.providers.keys $env }}
      optional: true
{{- end }}
{{- include "mediatasks.plainEnv" $values.config.env }}
{{- include "mediatasks.secretEnv" $values.config.secretEnv }}
{{- include "mediatasks.plainEnv" $svc.env }}
{{- include "mediatasks.secretEnv" $svc.secretEnv }}
{{- end -}}

{{/* Address of a service as Envoy's cluster sees it. Context: (dict "root" $ "name" ...). */}}
{{- define "mediatasks.gatewayBackendHost" -}}
{{- if .root.Values.gateway.headlessBackends -}}
{{- printf "%s-headless" (include "mediatasks.componentName" .) -}}
{{- else -}}
{{- include "mediatasks.componentName" . -}}
{{- end -}}
{{- end -}}

{{/*
gateway/envoy.yaml (copied to files/gateway/) with each service cluster's endpoints
pointed at this release's Services. The file stays the one source of truth: only the
addresses change, exactly as mediatasks.devstack.gateway_config does for local runs.
*/}}
{{- define "mediatasks.envoyConfig" -}}
{{- $root := . -}}
{{- $config := .Files.Get "files/gateway/envoy.yaml" | fromYaml -}}
{{- if or (not $config) (hasKey $config "Error") -}}
{{- fail "files/gateway/envoy.yaml is missing or not YAML: copy gateway/envoy.yaml into charts/mediatasks/files/gateway/" -}}
{{- end -}}
{{- $seen := list -}}
{{- range $cluster := $config.static_resources.clusters -}}
{{- if hasKey $root.Values.services $cluster.name -}}
{{- $seen = append $seen $cluster.name -}}
{{- $host := include "mediatasks.gatewayBackendHost" (dict "root" $root "name" $cluster.name) -}}
{{- $endpoint := dict "address" (dict "socket_address" (dict "address" $host "port_value" (int $root.Values.ports.grpc))) -}}
{{- $_ := set $cluster "type" "STRICT_DNS" -}}
{{- $_ := set $cluster "load_assignment" (dict "cluster_name" $cluster.name "endpoints" (list (dict "lb_endpoints" (list (dict "endpoint" $endpoint))))) -}}
{{- end -}}
{{- end -}}
{{- range $name := keys $root.Values.services | sortAlpha -}}
{{- if not (has $name $seen) -}}
{{- fail (printf "files/gateway/envoy.yaml has no cluster named %q" $name) -}}
{{- end -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* Pod scheduling fields; the service's own value wins over the default. Context: (dict "root" $ "svc" ...). */}}
{{- define "mediatasks.scheduling" -}}
{{- $values := .root.Values -}}
{{- with (default $values.nodeSelector .svc.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $values.tolerations .svc.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $values.affinity .svc.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- if $values.spreadAcrossNodes }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "mediatasks.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}
