package eimzo

import (
	"runtime"
	"strings"
)

// app plugin: E-IMZO's application settings. Only the reply language has
// a meaning in Signet; the rest answers harmlessly.

func init() {
	register(
		&function{Plugin: "app", Name: "change_ui_lang", Gate: gateAsk, Run: (*Server).changeUILang,
			Description: "Изменить язык ответов для домена: uz или ru",
			Args:        []arg{{Name: "lang", Description: "Код языка: uz или ru"}}},
		&function{Plugin: "app", Name: "get_jvm_version", Gate: gateAsk, Run: (*Server).getJVMVersion,
			Description: "Версия среды исполнения (Signet: без JVM)"},
		&function{Plugin: "app", Name: "show_menu", Gate: gateAsk, Run: (*Server).showMenu,
			Description: "Показать меню приложения (Signet: ничего не делает)"},
	)
}

// changeUILang sets the reply language of the caller's domain ("uz" or
// "ru", any case); the reply to this call is already in it. It lasts as
// long as the plugin process. Anything else is -1005.
func (s *Server) changeUILang(c *call) (Reply, error) {
	lang := strings.ToLower(strings.TrimSpace(c.args[0]))
	if lang != "uz" && lang != "ru" {
		return nil, fail(StatusBadLanguage, c.args[0])
	}
	s.mu.Lock()
	if lang == "ru" {
		delete(s.langs, c.sess.domain)
	} else {
		s.langs[c.sess.domain] = lang
	}
	s.mu.Unlock()
	return Reply{}, nil
}

// getJVMVersion: Signet runs no Java. It answers with what it runs — the
// Go runtime version and the plugin — under the field names a JVM
// version reply would use ("version", "vendor"), so a page that only
// displays them shows the truth.
func (s *Server) getJVMVersion(*call) (Reply, error) {
	return Reply{"version": runtime.Version(), "vendor": "Signet E-IMZO plugin " + PluginVersion + " (no JVM)"}, nil
}

// showMenu: E-IMZO opens its tray menu; Signet has none. Success, no-op.
func (s *Server) showMenu(*call) (Reply, error) { return Reply{}, nil }
