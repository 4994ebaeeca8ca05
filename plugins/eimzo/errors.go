package eimzo

import (
	"errors"
	"fmt"

	"github.com/signet-agent/signet/sdk"
)

// Status codes of E-IMZO replies.
const (
	StatusOK               = 1
	StatusNotFound         = 0 // function not found, wrong argument count, unparsable frame
	StatusBadPath          = -1002
	StatusBadFileName      = -1003
	StatusFileExists       = -1004
	StatusBadLanguage      = -1005
	StatusKeyIDNotFound    = -1010
	StatusKeyPairNotFound  = -1011
	StatusKeyIDNotFor      = -1015
	StatusPINLength        = -1019
	StatusBadAPIKey        = -1020
	StatusNoDomain         = -1021
	StatusDomainNotAllowed = -1022
	StatusNoPolicies       = -1023
	StatusBadPKCS10        = -1028
	StatusPFXMissing       = -2002
	StatusAliasNotFound    = -2006
	StatusDiskNotFound     = -2011
	StatusKeyFileExists    = -2012
	StatusKeyMismatch      = -2020
	StatusBadPolicyOID     = -2023
	StatusPasswordCancel   = -5000
	StatusCancelled        = -5001
	StatusUserCancelled    = -5002
	StatusInsertDisk       = -5003
	StatusPasswordMismatch = -5004
	StatusMkdir            = -9000
	StatusRuntime          = -9999
)

// reasons are the reply texts, Russian (E-IMZO's default) and Uzbek
// (after app.change_ui_lang("uz")). %s takes the Error's arguments.
var reasons = map[int][2]string{
	StatusNotFound:         {"Функция не найдена или версия E-IMZO устарела. Обновите E-IMZO.", "Funksiya topilmadi yoki E-IMZO versiyasi eskirgan. E-IMZO ni yangilang."},
	StatusBadPath:          {"Неверный путь: допустимо \"\" или \"DSKEYS\".", "Noto'g'ri yo'l: \"\" yoki \"DSKEYS\" bo'lishi mumkin."},
	StatusBadFileName:      {"Имя файла содержит недопустимые символы (допустимо A-Z и 0-9).", "Fayl nomida ruxsat etilmagan belgilar bor (A-Z va 0-9 mumkin)."},
	StatusFileExists:       {"Файл уже существует, выберите другое имя.", "Fayl allaqachon mavjud, boshqa nom tanlang."},
	StatusBadLanguage:      {"Неверный код языка: %s", "Noto'g'ri til kodi: %s"},
	StatusKeyIDNotFound:    {"Ключ по идентификатору не найден", "Identifikator bo'yicha kalit topilmadi"},
	StatusKeyPairNotFound:  {"Ключевая пара по идентификатору не найдена", "Identifikator bo'yicha kalit juftligi topilmadi"},
	StatusKeyIDNotFor:      {"Идентификатор ключа не применим для этого ключа", "Kalit identifikatori bu kalit uchun qo'llanilmaydi"},
	StatusPINLength:        {"PIN-код должен содержать от 1 до 8 цифр", "PIN-kod 1 dan 8 tagacha raqamdan iborat bo'lishi kerak"},
	StatusBadAPIKey:        {"API-key для домена %s недействителен.", "%s domeni uchun API-key yaroqsiz."},
	StatusNoDomain:         {"Не удалось идентифицировать домен.", "Domenni aniqlab bo'lmadi."},
	StatusDomainNotAllowed: {"API-key для домена %s недействителен.", "%s domeni uchun API-key yaroqsiz."},
	StatusNoPolicies:       {"Не переданы OID политик сертификата.", "Sertifikat siyosati OID lari berilmagan."},
	StatusBadPKCS10:        {"Не удалось открыть PKCS#10 (ожидается PEM или base64).", "PKCS#10 ni ochib bo'lmadi (PEM yoki base64 kutilmoqda)."},
	StatusPFXMissing:       {"Файл ключа не найден: %s", "Kalit fayli topilmadi: %s"},
	StatusAliasNotFound:    {"Сертификат с именем [%s] не найден в PFX-файле %s", "[%s] nomli sertifikat %s PFX-faylida topilmadi"},
	StatusDiskNotFound:     {"Диск не найден: %s", "Disk topilmadi: %s"},
	StatusKeyFileExists:    {"Файл ключа уже существует: %s", "Kalit fayli allaqachon mavjud: %s"},
	StatusKeyMismatch:      {"Открытый ключ сертификата не соответствует закрытому ключу", "Sertifikatning ochiq kaliti yopiq kalitga mos emas"},
	StatusBadPolicyOID:     {"Неверный OID политики сертификата: %s", "Sertifikat siyosatining OID si noto'g'ri: %s"},
	StatusPasswordCancel:   {"Ввод пароля отменен", "Parol kiritish bekor qilindi"},
	StatusCancelled:        {"Операция отменена", "Amal bekor qilindi"},
	StatusUserCancelled:    {"Операция отменена пользователем", "Amal foydalanuvchi tomonidan bekor qilindi"},
	StatusInsertDisk:       {"Вставьте USB-диск или токен и повторите", "USB-disk yoki tokenni ulang va qayta urinib ko'ring"},
	StatusPasswordMismatch: {"Новые пароли не совпадают", "Yangi parollar mos kelmadi"},
	StatusMkdir:            {"Не удалось создать папку: %s", "Papkani yaratib bo'lmadi: %s"},
	StatusRuntime:          {"%s", "%s"},
}

// Error is a failed E-IMZO call: a status code and the arguments of its
// reason text. Functions return it (via fail) or a host error, which
// asError maps.
type Error struct {
	Status int
	Args   []any
	// text, when set, replaces the status's own reason (ru, uz).
	text  [2]string
	cause error // the host error this came from, for the log
}

func (e *Error) Error() string { return fmt.Sprintf("E-IMZO status %d: %s", e.Status, e.reason("ru")) }

// reason is the localized reply text; lang is "ru" or "uz".
func (e *Error) reason(lang string) string {
	texts, ok := reasons[e.Status]
	if !ok {
		texts = reasons[StatusRuntime]
	}
	if e.text[0] != "" {
		texts = e.text
	}
	t := texts[0]
	if lang == "uz" {
		t = texts[1]
	}
	if len(e.Args) == 0 {
		if e.Status == StatusRuntime && e.text[0] == "" {
			return "Ошибка"
		}
		return t
	}
	return fmt.Sprintf(t, e.Args...)
}

// errDisabled is E-IMZO's reply for a function switched off in this
// version ("В данной версии E-IMZO функция отключена"), status
// -9999. Signet gives it for change_password, save_pfx and
// save_temporary_pfx (see pfx.go).
func errDisabled() error {
	return &Error{Status: StatusRuntime, text: [2]string{
		"В данной версии E-IMZO функция отключена",
		"E-IMZO ning ushbu versiyasida funksiya o'chirilgan"}}
}

// fail returns an *Error with status and the arguments of its text.
func fail(status int, args ...any) error { return &Error{Status: status, Args: args} }

// asError maps any error to an *Error: host errors to E-IMZO's codes by
// their sentinel (errors.Is), anything else to -9999 with the error text
// (host errors never carry secrets).
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	status := StatusRuntime
	switch {
	case errors.Is(err, sdk.ErrCancelled):
		status = StatusPasswordCancel
	case errors.Is(err, sdk.ErrPINIncorrect):
		// E-IMZO answers -5000 after the last wrong password. The reason
		// names BadPaddingException, the text the official e-imzo-init.js
		// looks for to say "Пароль неверный.".
		return &Error{Status: StatusPasswordCancel, cause: err, text: [2]string{
			"Пароль ключа неверный или файл ключа поврежден (javax.crypto.BadPaddingException)",
			"Kalit paroli noto'g'ri yoki kalit fayli buzilgan (javax.crypto.BadPaddingException)"}}
	case errors.Is(err, sdk.ErrPINLocked):
		return &Error{Status: StatusRuntime, cause: err, text: [2]string{"PIN-код заблокирован", "PIN-kod bloklangan"}}
	case errors.Is(err, sdk.ErrDenied):
		status = StatusUserCancelled
	case errors.Is(err, sdk.ErrTimeout):
		status = StatusCancelled
	case errors.Is(err, sdk.ErrKeyNotFound):
		status = StatusKeyIDNotFound
	case errors.Is(err, sdk.ErrTokenRemoved):
		status = StatusInsertDisk
	}
	if status != StatusRuntime {
		return &Error{Status: status, cause: err}
	}
	return &Error{Status: StatusRuntime, Args: []any{err.Error()}, cause: err}
}
