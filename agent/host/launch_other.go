//go:build !unix

package host

// checkExecutable: file ownership is not checked outside Unix; protect
// the plugin directory with the system's access control lists.
func checkExecutable(string) error { return nil }
