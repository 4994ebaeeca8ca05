//go:build plugintest_tag

package main

func init() { version += "+plugintest_tag" }
