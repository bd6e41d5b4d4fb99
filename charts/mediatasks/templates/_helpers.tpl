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

{{/*
Name of a component's resources: "<fullname>-<component>". Context: (dict "root" $ "name"
...). Names are never truncated: two components cut to the same prefix would collide, so a
name over Kubernetes' 63 characters fails the render, naming the fix.
*/}}
{{- define "mediatasks.componentName" -}}
{{- $fullname := include "mediatasks.fullname" .root -}}
{{- $name := printf "%s-%s" $fullname .name -}}
{{- if gt (len $name) 63 -}}
{{- fail (printf "resource name %q is %d characters, over Kubernetes' 63: use a shorter release name or fullnameOverride (the prefix %q may have at most %d)" $name (len $name) $fullname (sub 62 (len .name))) -}}
{{- end -}}
{{- $name -}}
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

{{/* Service of the in-chart NATS cluster (clients), and its headless twin (peers, KEDA). */}}
{{- define "mediatasks.natsHost" -}}
{{- include "mediatasks.componentName" (dict "root" . "name" "nats") -}}
{{- end -}}

{{- define "mediatasks.natsHeadlessHost" -}}
{{- include "mediatasks.componentName" (dict "root" . "name" "nats-headless") -}}
{{- end -}}

{{- define "mediatasks.postgresqlHost" -}}
{{- include "mediatasks.componentName" (dict "root" . "name" "postgresql") -}}
{{- end -}}

{{/* Secret holding the in-chart NATS password (key nats.auth.existingSecretKey or "nats-password"). */}}
{{- define "mediatasks.natsPasswordSecret" -}}
{{- default (include "mediatasks.natsHost" .) .Values.nats.auth.existingSecret -}}
{{- end -}}

{{- define "mediatasks.natsPasswordKey" -}}
{{- ternary .Values.nats.auth.existingSecretKey "nats-password" (not (empty .Values.nats.auth.existingSecret)) -}}
{{- end -}}

{{- define "mediatasks.postgresqlPasswordSecret" -}}
{{- default (include "mediatasks.postgresqlHost" .) .Values.postgresql.auth.existingSecret -}}
{{- end -}}

{{- define "mediatasks.authSecretName" -}}
{{- if and .Values.auth.existingSecret .Values.auth.internalToken -}}
{{- fail "auth.internalToken and auth.existingSecret are both set: clear auth.existingSecret (--set auth.existingSecret=) to have the chart store auth.internalToken, or drop auth.internalToken" -}}
{{- end -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.existingSecret -}}
{{- else if .Values.auth.internalToken -}}
{{- include "mediatasks.componentName" (dict "root" . "name" "auth") -}}
{{- else -}}
{{- fail "set auth.existingSecret (a Secret with key internal-token) or auth.internalToken: the internal token must stay the same across renders and upgrades" -}}
{{- end -}}
{{- end -}}

{{/* host:port other services use to reach a service. Context: (dict "root" $ "name" ...). */}}
{{- define "mediatasks.serviceAddr" -}}
{{- printf "%s:%v" (include "mediatasks.componentName" .) .root.Values.ports.grpc -}}
{{- end -}}

{{/* Where the NATS TLS files and credentials file are mounted. */}}
{{- define "mediatasks.natsTlsDir" -}}/etc/mediatasks/nats-tls{{- end -}}
{{- define "mediatasks.natsCredsDir" -}}/etc/mediatasks/nats{{- end -}}

{{/*
The NATS connection settings (URL, replicas, credentials, TLS). Context: the root. The
in-chart cluster is reached through its client Service; the client learns every node from
the server and reconnects across them.
*/}}
{{- define "mediatasks.natsEnv" -}}
{{- $ext := .Values.externalNats -}}
{{- if .Values.nats.enabled }}
- name: MEDIATASKS_NATS_URL
  value: {{ printf "nats://%s:4222" (include "mediatasks.natsHost" .) | quote }}
- name: MEDIATASKS_NATS_REPLICAS
  value: {{ .Values.nats.replicas | quote }}
- name: MEDIATASKS_NATS_USER
  value: {{ .Values.nats.auth.user | quote }}
- name: MEDIATASKS_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mediatasks.natsPasswordSecret" . }}
      key: {{ include "mediatasks.natsPasswordKey" . }}
{{- else }}
{{- if $ext.existingSecret }}
- name: MEDIATASKS_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $ext.existingSecret }}
      key: {{ $ext.existingSecretKey }}
{{- else if $ext.url }}
- name: MEDIATASKS_NATS_URL
  value: {{ $ext.url | quote }}
{{- else }}
{{- fail "set externalNats.url, externalNats.existingSecret or nats.enabled" }}
{{- end }}
- name: MEDIATASKS_NATS_REPLICAS
  value: {{ $ext.replicas | quote }}
{{- if $ext.user }}
- name: MEDIATASKS_NATS_USER
  value: {{ $ext.user | quote }}
{{- end }}
{{- if $ext.passwordSecret }}
{{- if not $ext.user }}
{{- fail "externalNats.passwordSecret needs externalNats.user" }}
{{- end }}
- name: MEDIATASKS_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $ext.passwordSecret }}
      key: {{ $ext.passwordSecretKey }}
{{- end }}
{{- if $ext.credentialsSecret }}
- name: MEDIATASKS_NATS_CREDS_FILE
  value: {{ printf "%s/%s" (include "mediatasks.natsCredsDir" .) $ext.credentialsSecretKey | quote }}
{{- end }}
{{- if $ext.tls.secret }}
{{- if $ext.tls.caKey }}
- name: MEDIATASKS_NATS_TLS_CA_FILE
  value: {{ printf "%s/%s" (include "mediatasks.natsTlsDir" .) $ext.tls.caKey | quote }}
{{- end }}
{{- if ne (empty $ext.tls.certKey) (empty $ext.tls.keyKey) }}
{{- fail "externalNats.tls.certKey and externalNats.tls.keyKey go together (mutual TLS)" }}
{{- end }}
{{- if $ext.tls.certKey }}
- name: MEDIATASKS_NATS_TLS_CERT_FILE
  value: {{ printf "%s/%s" (include "mediatasks.natsTlsDir" .) $ext.tls.certKey | quote }}
- name: MEDIATASKS_NATS_TLS_KEY_FILE
  value: {{ printf "%s/%s" (include "mediatasks.natsTlsDir" .) $ext.tls.keyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Volume mounts and volumes of the NATS credentials file and TLS files. Context: the root. */}}
{{- define "mediatasks.natsMounts" -}}
{{- $ext := .Values.externalNats -}}
{{- if and (not .Values.nats.enabled) $ext.credentialsSecret }}
- name: nats-creds
  mountPath: {{ include "mediatasks.natsCredsDir" . }}
  readOnly: true
{{- end }}
{{- if and (not .Values.nats.enabled) $ext.tls.secret }}
- name: nats-tls
  mountPath: {{ include "mediatasks.natsTlsDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "mediatasks.natsVolumes" -}}
{{- $ext := .Values.externalNats -}}
{{- if and (not .Values.nats.enabled) $ext.credentialsSecret }}
- name: nats-creds
  secret:
    secretName: {{ $ext.credentialsSecret }}
    items:
      - key: {{ $ext.credentialsSecretKey }}
        path: {{ $ext.credentialsSecretKey }}
{{- end }}
{{- if and (not .Values.nats.enabled) $ext.tls.secret }}
- name: nats-tls
  secret:
    secretName: {{ $ext.tls.secret }}
    items:
      {{- range $key := compact (list $ext.tls.caKey $ext.tls.certKey $ext.tls.keyKey) }}
      - key: {{ $key }}
        path: {{ $key }}
      {{- end }}
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
# Kubernetes expands $(DATABASE_PASSWORD) from the variable above it; the password is
# alphanumeric (the schema says so), so it needs no URL escaping.
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mediatasks.postgresqlPasswordSecret" $root }}
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

{{/* Logging of `mediatasks migrate` (the Job and the init container): the services' own settings. */}}
{{- define "mediatasks.migrateEnv" -}}
- name: MEDIATASKS_LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: MEDIATASKS_LOG_JSON
  value: {{ .Values.config.logJson | quote }}
{{- end -}}

{{/*
terminationGracePeriodSeconds of a service: its worst-case drain. On SIGTERM the runtime
(mediatasks.core.server) awaits each background loop's stop one after another, each bounded
by shutdownGraceSeconds (the registry has 6: outbox relay, housekeeper, daily scheduler,
reconciler, webhooks, statistics rollups; a media service 2: worker, event publisher), then
stops the gRPC server (at most min(grace, 5) s) and drains NATS (at most 5 s); 10 s more
covers the cleanups and the exit.
Context: (dict "root" $ "name" ... "svc" ...).
*/}}
{{- define "mediatasks.drainSeconds" -}}
{{- $grace := int .svc.shutdownGraceSeconds -}}
{{- $stoppers := ternary 6 2 (eq .name "registry") -}}
{{- add (mul $stoppers $grace) (min $grace 5) 5 10 -}}
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
The environment of one mediatasks service container, each variable once. Context: (dict
"root" $ "name" <service> "svc" <its values block>). A service's own env wins over
config.env; a name the chart sets itself, or set both plainly and from a Secret, fails the
render (the schema already refuses chart-owned names; this also catches providers.keys).
*/}}
{{- define "mediatasks.serviceEnv" -}}
{{- $entries := include "mediatasks.serviceEnvEntries" . | fromYamlArray -}}
{{- $seen := dict -}}
{{- range $entry := $entries -}}
{{- if hasKey $seen $entry.name -}}
{{- fail (printf "services.%s: %s is set twice; the chart sets the connection, port, auth and provider-key settings itself, so leave them out of config.env, config.secretEnv and services.%s.env/secretEnv" $.name $entry.name $.name) -}}
{{- end -}}
{{- $_ := set $seen $entry.name true -}}
{{- end -}}
{{- toYaml $entries -}}
{{- end -}}

{{- define "mediatasks.serviceEnvEntries" -}}
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
{{- include "mediatasks.plainEnv" (merge (dict) (default (dict) $svc.env) (default (dict) $values.config.env)) }}
{{- include "mediatasks.secretEnv" (merge (dict) (default (dict) $svc.secretEnv) (default (dict) $values.config.secretEnv)) }}
{{- end -}}

{{/* Address of a service as Envoy's cluster sees it. Context: (dict "root" $ "name" ...). */}}
{{- define "mediatasks.gatewayBackendHost" -}}
{{- if .root.Values.gateway.headlessBackends -}}
{{- include "mediatasks.componentName" (dict "root" .root "name" (printf "%s-headless" .name)) -}}
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
{{- fail "files/gateway/envoy.yaml is missing or not YAML: run `make chart-sync` (copies gateway/ into charts/mediatasks/files/gateway/)" -}}
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
{{- /* Envoy listens where gateway.listenerPort says: the container port, probes and Service follow it. */ -}}
{{- $listeners := $config.static_resources.listeners -}}
{{- if ne (len $listeners) 1 -}}
{{- fail (printf "files/gateway/envoy.yaml has %d listeners; the chart aims exactly one at gateway.listenerPort" (len $listeners)) -}}
{{- end -}}
{{- $_ := set (index $listeners 0).address.socket_address "port_value" (int $root.Values.gateway.listenerPort) -}}
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
