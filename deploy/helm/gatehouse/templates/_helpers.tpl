{{/* Names, labels and the checks every template relies on. */}}

{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release alone when it already holds the chart name. */}}
{{- define "gatehouse.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gatehouse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ include "gatehouse.chart" . }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gatehouse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gatehouse.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The Secret mounted at /etc/gatehouse/secrets. */}}
{{- define "gatehouse.secretName" -}}
{{- .Values.existingSecret | default (include "gatehouse.fullname" .) }}
{{- end }}

{{/* Whether the pods run more than one replica: PodDisruptionBudget default. */}}
{{- define "gatehouse.pdbEnabled" -}}
{{- if kindIs "bool" .Values.podDisruptionBudget.enabled }}
{{- ternary "true" "" .Values.podDisruptionBudget.enabled }}
{{- else if gt (int .Values.replicaCount) 1 }}
{{- "true" }}
{{- end }}
{{- end }}

{{/*
gatehouse.checkCookieSecret refuses a cookie secret the chart would put in
its own Secret when it is missing, a placeholder, or not what Gatehouse
accepts (32 raw bytes or the base64 of 32 bytes on each line): applying a
publicly known key would let anyone forge sessions.
*/}}
{{- define "gatehouse.checkCookieSecret" -}}
{{- $fix := "generate one with 'gatehouse secret' or 'openssl rand -base64 32' and pass it with --set-file secret.cookieSecret=FILE, or set existingSecret" }}
{{- $secret := .Values.secret.cookieSecret | default "" | trim }}
{{- if not $secret }}
{{- fail (printf "secret.cookieSecret is required (the key encrypting session cookies): %s" $fix) }}
{{- end }}
{{- range $i, $line := splitList "\n" $secret }}
{{- $line = trim $line }}
{{- if $line }}
{{- /* Words of six letters or more: random base64 holds one about once in 10^7 keys. */}}
{{- if regexMatch "(?i)replace|change.?me|example|placeholder|secret|password|[<> ]" $line }}
{{- fail (printf "secret.cookieSecret line %d is a placeholder, not a secret: %s" (add1 $i) $fix) }}
{{- end }}
{{- if not (or (eq (len $line) 32) (regexMatch "^[A-Za-z0-9+/_-]{43}=?$" $line)) }}
{{- fail (printf "secret.cookieSecret line %d is not 32 bytes or the base64 of 32 bytes: %s" (add1 $i) $fix) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* gatehouse.checkValues fails on combinations that cannot work. */}}
{{- define "gatehouse.checkValues" -}}
{{- if not .Values.existingSecret }}
{{- include "gatehouse.checkCookieSecret" . }}
{{- if and .Values.redis.enabled .Values.redis.auth.enabled (not .Values.secret.redisPassword) }}
{{- fail "redis.auth.enabled needs secret.redisPassword (or existingSecret)" }}
{{- end }}
{{- if and .Values.redis.enabled .Values.redis.auth.sentinel (not .Values.secret.redisSentinelPassword) }}
{{- fail "redis.auth.sentinel needs secret.redisSentinelPassword (or existingSecret)" }}
{{- end }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- $mode := .Values.redis.mode }}
{{- if eq $mode "standalone" }}
{{- if not .Values.redis.url }}
{{- fail "redis.mode standalone needs redis.url (redis://host:6379/0 or rediss://...)" }}
{{- end }}
{{- if regexMatch "^[a-z]+://[^/@]*:[^/@]*@" .Values.redis.url }}
{{- fail "redis.url carries a password; remove it and use redis.auth.enabled with secret.redisPassword so it is not in the pod's arguments" }}
{{- end }}
{{- else if eq $mode "sentinel" }}
{{- if or (not .Values.redis.sentinel.master) (not .Values.redis.sentinel.addrs) }}
{{- fail "redis.mode sentinel needs redis.sentinel.master and redis.sentinel.addrs" }}
{{- end }}
{{- else if eq $mode "cluster" }}
{{- if not .Values.redis.cluster.addrs }}
{{- fail "redis.mode cluster needs redis.cluster.addrs" }}
{{- end }}
{{- else }}
{{- fail (printf "redis.mode is %q; use standalone, sentinel or cluster" $mode) }}
{{- end }}
{{- if and .Values.redis.auth.sentinel (ne $mode "sentinel") }}
{{- fail "redis.auth.sentinel is set, but redis.mode is not sentinel" }}
{{- end }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) }}
{{- fail "tls.enabled needs tls.secretName (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- /* Any key ending in secret or password, at any depth (providers entries too). */}}
{{- range $line := splitList "\n" (toYaml .Values.config) }}
{{- $m := regexFind "^[ -]*[a-z_]*(secret|password):" $line }}
{{- if $m }}
{{- fail (printf "config: %s holds a secret in the ConfigMap; put it in secret.extra (or existingSecret) and use the *_file option" (trimAll " -:" $m)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* gatehouse.args are the container arguments: options and file paths, never a secret. */}}
{{- define "gatehouse.args" -}}
{{- $dir := "/etc/gatehouse/secrets" }}
{{- $args := list "--config=/etc/gatehouse/gatehouse.yaml" "--http-address=0.0.0.0:4180" }}
{{- $args = append $args (printf "--cookie-secret-file=%s/%s" $dir .Values.secretKeys.cookieSecret) }}
{{- if and (not .Values.config.providers) .Values.secretKeys.clientSecret (or .Values.existingSecret .Values.secret.clientSecret) }}
{{- $args = append $args (printf "--client-secret-file=%s/%s" $dir .Values.secretKeys.clientSecret) }}
{{- end }}
{{- with .Values.redis }}
{{- if .enabled }}
{{- $args = append $args "--session-store=redis" }}
{{- if eq .mode "standalone" }}
{{- $args = append $args (printf "--redis-url=%s" .url) }}
{{- else if eq .mode "sentinel" }}
{{- $args = append $args (printf "--redis-sentinel-master=%s" .sentinel.master) }}
{{- range .sentinel.addrs }}
{{- $args = append $args (printf "--redis-sentinel-addr=%s" .) }}
{{- end }}
{{- else }}
{{- range .cluster.addrs }}
{{- $args = append $args (printf "--redis-cluster-addr=%s" .) }}
{{- end }}
{{- end }}
{{- if .auth.enabled }}
{{- $args = append $args (printf "--redis-password-file=%s/%s" $dir $.Values.secretKeys.redisPassword) }}
{{- end }}
{{- if .auth.sentinel }}
{{- $args = append $args (printf "--redis-sentinel-password-file=%s/%s" $dir $.Values.secretKeys.redisSentinelPassword) }}
{{- end }}
{{- if .caSecret }}
{{- $args = append $args (printf "--redis-ca-file=/etc/gatehouse/redis-ca/%s" .caKey) }}
{{- end }}
{{- if .keyPrefix }}
{{- $args = append $args (printf "--redis-key-prefix=%s" .keyPrefix) }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.metrics.enabled }}
{{- $args = append $args (printf "--metrics-address=0.0.0.0:%d" (int .Values.metrics.port)) }}
{{- end }}
{{- with .Values.tls }}
{{- if .enabled }}
{{- $args = concat $args (list (printf "--https-address=0.0.0.0:%d" (int .port)) "--tls-cert-file=/etc/gatehouse/tls/tls.crt" "--tls-key-file=/etc/gatehouse/tls/tls.key") }}
{{- if .minVersion }}
{{- $args = append $args (printf "--tls-min-version=%s" .minVersion) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml (concat $args .Values.extraArgs) }}
{{- end }}

{{/* gatehouse.probe renders one probe from its values (minus enabled). */}}
{{- define "gatehouse.probe" -}}
httpGet:
  path: {{ .path }}
  port: http
{{- with omit .values "enabled" }}
{{ toYaml . }}
{{- end }}
{{- end }}
