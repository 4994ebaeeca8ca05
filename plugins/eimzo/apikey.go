package eimzo

// verifyAPIKey reports whether key is the vendor's API key for domain.
// (Placeholder until the GOST R 34.10-2001 verification lands.)
func verifyAPIKey(domain, key string) bool { return false }
