package testenv

import (
	"log/slog"
	"time"
)

// Known values the unit tests share: secrets a test hands the exporter and
// then searches every output for, and document ids that are not secrets.
const (
	SecretContext    = "5EC2E7C0-C0DE-4C0D-8C0D-5EC2E7C0C0DE" // exporter-wide ContextIdentifier
	SecretDocContext = "5EC2E7D0-D0C0-4D0C-9D0C-5EC2E7D0D0C0" // one document's own (another account)
	SecretTokenA     = "5EC2E7A1-A1A1-4A1A-8A1A-5EC2E7A1A1A1"
	SecretTokenB     = "5EC2E7B2-B2B2-4B2B-9B2B-5EC2E7B2B2B2"
	SecretTokenC     = "5EC2E7C3-C3C3-4C3C-AC3C-5EC2E7C3C3C3"
	SecretTokenWrong = "5EC2E7F4-F4F4-4F4F-BF4F-5EC2E7F4F4F4" // in the watch file, not the account

	DocA = "AAAAAAAA-0000-4000-8000-00000000000A"
	DocB = "BBBBBBBB-0000-4000-8000-00000000000B"
	DocC = "CCCCCCCC-0000-4000-8000-00000000000C"
	DocD = "DDDDDDDD-0000-4000-8000-00000000000D"
)

// KnownSecrets finds any of the secrets above, whole or in part, in any case,
// with or without hyphens.
var KnownSecrets = NewSecrets(FragmentLen, SecretContext, SecretDocContext, SecretTokenA, SecretTokenB, SecretTokenC, SecretTokenWrong)

// T0 is where fake clocks start: a fixed, round instant.
var T0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// DebugLogger logs everything, down to debug, as text into the returned buffer.
func DebugLogger() (*slog.Logger, *SyncBuffer) {
	buf := &SyncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}
