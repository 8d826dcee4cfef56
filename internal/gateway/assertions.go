package gateway

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
)

// newAssertions returns the signer of --signing-key-file, nil without
// keys, warning about key files others may read.
func newAssertions(cfg *config.Config, now func() time.Time, log *slog.Logger) (*assertion.Signer, error) {
	if len(cfg.SigningKeys) == 0 {
		return nil, nil
	}
	for _, k := range cfg.SigningKeys {
		if k.ReadableByOthers() {
			log.Warn("signing key file is readable by its group or other users; whoever reads it can forge identities for your upstreams",
				"file", k.File(), "fix", "chmod 600 (or 400) the file")
		}
	}
	s, err := assertion.NewSigner(assertion.Config{Keys: cfg.SigningKeys, Issuer: cfg.AssertionIssuer, Now: now})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	log.Info("signing identity assertions", "issuer", cfg.AssertionIssuer, "kid", s.KeyID(), "keys_published", len(cfg.SigningKeys))
	return s, nil
}
