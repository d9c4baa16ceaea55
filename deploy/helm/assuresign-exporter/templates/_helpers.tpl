{{/* The chart's name, or nameOverride. */}}
{{- define "assuresign-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The objects' name: fullnameOverride, else the release name followed by the
chart's name unless the release name contains it. Truncated for DNS names.
*/}}
{{- define "assuresign-exporter.fullname" -}}
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

{{- define "assuresign-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "assuresign-exporter.labels" -}}
helm.sh/chart: {{ include "assuresign-exporter.chart" . | quote }}
{{ include "assuresign-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ include "assuresign-exporter.tag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: {{ include "assuresign-exporter.name" . | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The labels of the `helm test` pod: not the selector labels. */}}
{{- define "assuresign-exporter.testLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: test
{{- end }}

{{/* The labels that select the exporter's pods. */}}
{{- define "assuresign-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "assuresign-exporter.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{- define "assuresign-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "assuresign-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "assuresign-exporter.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "assuresign-exporter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "assuresign-exporter.tag" .) }}
{{- end }}
{{- end }}

{{- define "assuresign-exporter.sharded" -}}
{{- if gt (int .Values.sharding.shards) 1 }}true{{ end }}
{{- end }}

{{/* The Secret the chart makes for the ContextIdentifier, the REST API key and the webhook's token. */}}
{{- define "assuresign-exporter.secretName" -}}
{{- include "assuresign-exporter.fullname" . }}
{{- end }}

{{/*
A random salt kept in the chart's Secret and read back on upgrade: the
checksum/secret annotation hashes the Secret with it, so a change rolls the
pods while the annotation, which anyone who can read pods sees, cannot be
used to test guesses of the token. Made once a render (templates share
.Values) unless the checksumSalt value names one.
*/}}
{{- define "assuresign-exporter.secretSalt" -}}
{{- if not .Values.checksumSalt }}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "assuresign-exporter.secretName" .) }}
{{- $kept := dig "data" "checksum-salt" "" $secret | b64dec }}
{{- $_ := set .Values "checksumSalt" (default (randAlphaNum 32) $kept) }}
{{- end }}
{{- .Values.checksumSalt }}
{{- end }}

{{- define "assuresign-exporter.contextIdentifierSecret" -}}
{{- default (include "assuresign-exporter.secretName" .) .Values.contextIdentifier.existingSecret }}
{{- end }}

{{- define "assuresign-exporter.webhookTokenSecret" -}}
{{- default (include "assuresign-exporter.secretName" .) .Values.webhook.bearerToken.existingSecret }}
{{- end }}

{{- define "assuresign-exporter.restAPI" -}}
{{- if eq .Values.assuresign.api "rest" }}true{{ end }}
{{- end }}

{{- define "assuresign-exporter.apiKeySecret" -}}
{{- default (include "assuresign-exporter.secretName" .) .Values.assuresign.rest.apiKey.existingSecret }}
{{- end }}

{{- define "assuresign-exporter.watchSecret" -}}
{{- default (printf "%s-watch" (include "assuresign-exporter.fullname" .)) .Values.watchFiles.existingSecret }}
{{- end }}

{{/* The headless Service naming each shard's pod. */}}
{{- define "assuresign-exporter.shardsService" -}}
{{- printf "%s-shards" (include "assuresign-exporter.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "assuresign-exporter.webhookService" -}}
{{- printf "%s-webhook" (include "assuresign-exporter.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "assuresign-exporter.probe" -}}
{{- $probe := deepCopy .probe }}
{{- if and .tls $probe.httpGet }}
{{- $_ := set $probe.httpGet "scheme" "HTTPS" }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/* The pod template of the Deployment and the StatefulSet. */}}
{{- define "assuresign-exporter.podTemplate" -}}
{{- $sharded := include "assuresign-exporter.sharded" . -}}
{{- $rest := include "assuresign-exporter.restAPI" . -}}
metadata:
  labels:
    {{- include "assuresign-exporter.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/component: exporter
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- /* Rolls the pod when the chart's Secret changes (what is read at start only, such as the ContextIdentifier, then takes its new value); salted, see secretSalt. */}}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "assuresign-exporter.serviceAccountName" . | quote }}
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: assuresign-exporter
      image: {{ include "assuresign-exporter.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy | quote }}
      {{- if or $sharded $rest .Values.env }}
      env:
        {{- if $rest }}
        {{- /* User names, not secrets; the API key is a file (--assuresign.rest.api-key-file). */}}
        - name: ASSURESIGN_API_USERNAME
          value: {{ required "assuresign.api=rest needs assuresign.rest.apiUsername" .Values.assuresign.rest.apiUsername | quote }}
        - name: ASSURESIGN_CONTEXT_USERNAME
          value: {{ required "assuresign.api=rest needs assuresign.rest.contextUsername" .Values.assuresign.rest.contextUsername | quote }}
        {{- end }}
        {{- if $sharded }}
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        {{- end }}
        {{- with .Values.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      args:
        {{- /* Globs: a file added to the Secret or ConfigMap is watched without a restart. */}}
        - --watch.file=/etc/assuresign_exporter/watch/*.yml
        - --watch.file=/etc/assuresign_exporter/watch/*.yaml
        - --assuresign.context-identifier-file=/etc/assuresign_exporter/secrets/context-identifier
        - --persistence.file=/var/lib/assuresign_exporter/state.bin
        {{- if $rest }}
        - --assuresign.api=rest
        - --assuresign.rest.api-key-file=/etc/assuresign_exporter/secrets/api-key
        {{- with .Values.assuresign.rest.url }}
        - {{ printf "--assuresign.rest.url=%s" . | quote }}
        {{- end }}
        {{- with .Values.assuresign.rest.authURL }}
        - {{ printf "--assuresign.rest.auth-url=%s" . | quote }}
        {{- end }}
        {{- end }}
        {{- with .Values.webConfig.existingSecret }}
        - {{ printf "--web.config.file=/etc/assuresign_exporter/web/%s" $.Values.webConfig.key | quote }}
        {{- end }}
        {{- if .Values.webhook.enabled }}
        - --webhook.bearer-token-file=/etc/assuresign_exporter/secrets/webhook-token
        - --webhook.listen-address=:{{ .Values.webhook.port }}
        {{- end }}
        {{- if $sharded }}
        - --total-shards={{ int .Values.sharding.shards }}
        - --shard=$(POD_NAME)
        {{- if .Values.webhook.enabled }}
        {{- /* {shard} is the owning shard's number: its pod's name in the headless Service. */}}
        - {{ printf "--webhook.shard-url-template=http://%s-{shard}.%s.$(POD_NAMESPACE).svc:%d/webhooks/documenttrak" (include "assuresign-exporter.fullname" .) (include "assuresign-exporter.shardsService" .) (int .Values.webhook.port) | quote }}
        {{- end }}
        {{- end }}
        {{- with .Values.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: http-metrics
          containerPort: 9865
          protocol: TCP
        {{- if .Values.webhook.enabled }}
        - name: http-webhook
          containerPort: {{ .Values.webhook.port }}
          protocol: TCP
        {{- end }}
      livenessProbe:
        {{- include "assuresign-exporter.probe" (dict "probe" .Values.livenessProbe "tls" .Values.webConfig.tls) | nindent 8 }}
      readinessProbe:
        {{- include "assuresign-exporter.probe" (dict "probe" .Values.readinessProbe "tls" .Values.webConfig.tls) | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: watch
          mountPath: /etc/assuresign_exporter/watch
          readOnly: true
        - name: secrets
          mountPath: /etc/assuresign_exporter/secrets
          readOnly: true
        {{- if .Values.webConfig.existingSecret }}
        - name: web-config
          mountPath: /etc/assuresign_exporter/web
          readOnly: true
        {{- end }}
        - name: state
          mountPath: /var/lib/assuresign_exporter
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  {{- /* Whole directories, never subPath: a subPath mount does not see a Secret's or ConfigMap's update. */}}
  volumes:
    - name: watch
      secret:
        secretName: {{ include "assuresign-exporter.watchSecret" . | quote }}
        defaultMode: 0400
    - name: secrets
      projected:
        defaultMode: 0400
        sources:
          - secret:
              name: {{ include "assuresign-exporter.contextIdentifierSecret" . | quote }}
              items:
                - key: {{ .Values.contextIdentifier.key | quote }}
                  path: context-identifier
          {{- if $rest }}
          - secret:
              name: {{ include "assuresign-exporter.apiKeySecret" . | quote }}
              items:
                - key: {{ .Values.assuresign.rest.apiKey.key | quote }}
                  path: api-key
          {{- end }}
          {{- if .Values.webhook.enabled }}
          - secret:
              name: {{ include "assuresign-exporter.webhookTokenSecret" . | quote }}
              items:
                - key: {{ .Values.webhook.bearerToken.key | quote }}
                  path: webhook-token
          {{- end }}
    {{- with .Values.webConfig.existingSecret }}
    - name: web-config
      secret:
        secretName: {{ . | quote }}
        defaultMode: 0400
    {{- end }}
    {{- if not (and $sharded .Values.persistence.enabled) }}
    - name: state
      {{- if .Values.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ default (include "assuresign-exporter.fullname" .) .Values.persistence.existingClaim | quote }}
      {{- else }}
      emptyDir:
        sizeLimit: {{ .Values.persistence.emptyDirSizeLimit | quote }}
      {{- end }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
