//go:build !unix

package sdk

// watchParent is not implemented on this OS; the host's own process
// management (a job object on Windows) has to end plugins.
func watchParent(*server) {}
