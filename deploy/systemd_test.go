package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	serviceUnit = "examples/systemd/assuresign_exporter.service"
	socketUnit  = "examples/systemd/assuresign_exporter.socket"
)

// unit is a unit file: section -> directive -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, rel string) unit {
	t.Helper()
	u := unit{}
	section := ""
	var line string
	sc := bufio.NewScanner(bytes.NewReader(readRepoFile(t, rel)))
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if line == "" && (text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, ";")) {
			continue
		}
		if cont, ok := strings.CutSuffix(text, `\`); ok {
			line += cont + " "
			continue
		}
		line += text
		switch {
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		case section == "":
			t.Fatalf("%s: %q outside a section", rel, line)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not a directive: %q", rel, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
		line = ""
	}
	return u
}

func TestSystemdService(t *testing.T) {
	u := parseUnit(t, serviceUnit)
	svc := u["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	// The hardening a systemd user expects (see systemd-analyze security).
	for k, want := range map[string]string{
		"DynamicUser":             "yes",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":      "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"CapabilityBoundingSet":   "",
		"StateDirectory":          "assuresign_exporter",
	} {
		if got, ok := svc[k]; !ok || got[len(got)-1] != want {
			t.Errorf("[Service] %s=%q, want %q", k, got, want)
		}
	}
	if !slices.Contains(svc["SystemCallFilter"], "@system-service") {
		t.Errorf("[Service] SystemCallFilter=@system-service missing")
	}
	if !slices.Contains(u["Unit"]["Requires"], filepath.Base(socketUnit)) {
		t.Errorf("[Unit] should require %s", filepath.Base(socketUnit))
	}

	// Credentials: the watch file and the ContextIdentifier, handed to the
	// flags through $CREDENTIALS_DIRECTORY.
	creds := map[string]string{}
	for _, c := range svc["LoadCredential"] {
		name, src, _ := strings.Cut(c, ":")
		creds[name] = src
	}
	if len(svc["ExecStart"]) != 1 {
		t.Fatalf("want one ExecStart, have %q", svc["ExecStart"])
	}
	args := strings.Fields(svc["ExecStart"][0])
	for _, w := range []struct{ flag, value, cred, src string }{
		{"watch.file", "${CREDENTIALS_DIRECTORY}/watch.yml", "watch.yml", "/etc/assuresign_exporter/watch.yml"},
		{"assuresign.context-identifier-file", "${CREDENTIALS_DIRECTORY}/context-identifier", "context-identifier", "/etc/assuresign_exporter/context-identifier"},
		{"persistence.file", "${STATE_DIRECTORY}/state.bin", "", ""},
	} {
		if _, got, _ := flagValue(args, w.flag); got != w.value {
			t.Errorf("ExecStart: --%s=%q, want %q", w.flag, got, w.value)
		}
		if w.cred != "" && creds[w.cred] != w.src {
			t.Errorf("LoadCredential=%s:%s missing (have %v)", w.cred, w.src, creds)
		}
	}
	for _, a := range args {
		if _, v, ok := argFlag(a); ok && strings.Contains(v, "${CREDENTIALS_DIRECTORY}/") {
			if name := strings.TrimPrefix(v, "${CREDENTIALS_DIRECTORY}/"); creds[name] == "" {
				t.Errorf("ExecStart %s: no LoadCredential=%s", a, name)
			}
		}
	}
	if !slices.Contains(args, "--web.systemd-socket") {
		t.Errorf("ExecStart: no --web.systemd-socket (the socket unit listens)")
	}
	checkFlags(t, serviceUnit+" ExecStart", args[1:])
}

func TestSystemdSocket(t *testing.T) {
	u := parseUnit(t, socketUnit)
	if got := u["Socket"]["ListenStream"]; !slices.Equal(got, []string{"9865"}) {
		t.Errorf("[Socket] ListenStream=%q, want 9865", got)
	}
	if got := u["Install"]["WantedBy"]; !slices.Equal(got, []string{"sockets.target"}) {
		t.Errorf("[Install] WantedBy=%q, want sockets.target", got)
	}
}

var execStartBinary = regexp.MustCompile(`(?m)^(ExecStart=)(\S+)`)

// TestSystemdAnalyzeVerify runs systemd-analyze verify on both units (skips
// without it). verify wants the ExecStart binary to exist, so the copies it
// reads start the freshly built exporter instead of /usr/local/bin's.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found on PATH; skipping")
	}
	bin, _ := exporter(t)
	dir := t.TempDir()
	var files []string
	for _, rel := range []string{serviceUnit, socketUnit} {
		b := execStartBinary.ReplaceAll(readRepoFile(t, rel), []byte("${1}"+bin))
		f := filepath.Join(dir, filepath.Base(rel))
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	cmd := exec.Command(analyze, append([]string{"verify"}, files...)...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=notice")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Unknown or misspelt directives are only warnings: fail on any line
	// about these units.
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "assuresign_exporter") {
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
}
