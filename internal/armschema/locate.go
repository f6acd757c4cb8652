package armschema

import (
	"fmt"
	"os"
	"path/filepath"
)

// SpecsEnv names an environment variable that overrides where FindSpecs looks.
const SpecsEnv = "DUALPEER_ARM_SPECS"

// FindSpecs locates the reference ARM specs folder for tests: $DUALPEER_ARM_SPECS if set,
// else ../shared/reference/arm-specs next to the repository root (the directory holding
// go.mod, found by walking up from the working directory). The error says where it looked,
// so a test can skip with a message a developer can act on.
func FindSpecs() (string, error) {
	if p := os.Getenv(SpecsEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", SpecsEnv, p, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for i := 0; i < 32; i++ {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "..", "shared", "reference", "arm-specs")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("ARM specs folder not found at %s (set %s to a copy of the reference arm-specs folder): %w", p, SpecsEnv, err)
			}
			return filepath.Clean(p), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("no go.mod above the working directory, cannot locate ../shared/reference/arm-specs (set %s)", SpecsEnv)
}
