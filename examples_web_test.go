package main

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// The web configs in examples/ pass exporter-toolkit's own (strict) check once
// their placeholder certificate paths point at a real key pair, and the hash
// in web.yml is of the password its comment gives.
func TestExampleWebConfigs(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeKeyPair(t, dir)
	for _, name := range []string{"web.yml", "webhook-web.yml"} {
		data, err := os.ReadFile(filepath.Join("examples", name))
		require.NoError(t, err)
		text := strings.NewReplacer("/etc/assuresign_exporter/tls.crt", certFile, "/etc/assuresign_exporter/tls.key", keyFile).Replace(string(data))
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
		assert.NoError(t, web.Validate(path), name)
	}

	var cfg web.Config
	data, err := os.ReadFile("examples/web.yml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &cfg))
	require.Contains(t, cfg.Users, "prometheus")
	assert.NoError(t, bcrypt.CompareHashAndPassword([]byte(cfg.Users["prometheus"]), []byte("example-password-change-me")))

	cfg = web.Config{}
	data, err = os.ReadFile("examples/webhook-web.yml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &cfg))
	assert.Empty(t, cfg.Users, "the webhook's listener has no basic auth: DocumentTRAK cannot send it")
}

// writeKeyPair writes a valid certificate and key (httptest's) into dir.
func writeKeyPair(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	srv.Close()
	pair := srv.TLS.Certificates[0]
	keyDER, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: pair.Certificate[0]}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}
