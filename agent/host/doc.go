// Package host runs Signet plugins. A Manager starts each configured plugin
// (and each signet-plugin-* executable of its directory) as a separate
// process over hashicorp/go-plugin gRPC, refusing an executable another user
// could change or one that does not match its SHA-256 pin; it serves the
// host services (key store, consent, log, TLS certificates) to each plugin
// on its own brokered connection, attributing every call to the plugin's
// configured name and putting it to the consent engine before the key
// store; it restarts a crashed plugin with exponential backoff and stops
// every plugin gracefully. A plugin gets none of the agent's environment
// but the variables of agent/internal/pluginenv, and never outlives the
// agent. Manager is safe for concurrent use; statuses are snapshots.
//
//	mgr := host.New(host.Config{
//		Plugins:  []host.PluginSpec{{Name: "eimzo", Path: "/usr/lib/signet/signet-plugin-eimzo", SHA256: pin}},
//		KeyStore: store,  // *hsm.Store
//		Consent:  engine, // *consent.Engine
//		TLS:      ca,     // the local CA
//	})
//	if err := mgr.Start(ctx); err != nil {
//		log.Print(err) // the plugins that did not start; the others run
//	}
//	defer mgr.Shutdown(shutdownCtx)
//
// Why the host starts, confines and stops plugins the way it does is in
// docs/plugin-process-trust.md.
package host
