package cipher

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/signet-agent/signet/sdk"
)

// msg names one localised message of the API.
type msg string

// The messages of the API, as Cipher words them (uk), with ru and en.
const (
	msgOK             msg = "ok"
	msgStatus         msg = "status"
	msgSessionCreated msg = "sessionCreated"
	msgSessionDeleted msg = "sessionDeleted"
	msgSessionMissing msg = "sessionMissing"
	msgBadParameter   msg = "badParameter"
	msgRefused        msg = "refused"
	msgRunning        msg = "running"
	msgSigned         msg = "signed"
	msgNotSigned      msg = "notSigned"
	msgValid          msg = "valid"
	msgInvalid        msg = "invalid"
	msgFailed         msg = "failed"
	msgLanguage       msg = "language"
	msgNotFound       msg = "notFound"
	msgTooLarge       msg = "tooLarge"
	msgBusy           msg = "busy"
)

var messages = map[string]map[msg]string{
	"uk": {
		msgOK:             "Операцію успішно виконано.",
		msgStatus:         "Сервіси знаходяться у працездатному стані.",
		msgSessionCreated: "Створена сесія.",
		msgSessionDeleted: "Сесію видалено.",
		msgSessionMissing: "Сесія відсутня.",
		msgBadParameter:   "Некоректний параметр.",
		msgRefused:        "Користувач відмовив у виконанні операції.",
		msgRunning:        "Операція знаходиться у стадії виконання.",
		msgSigned:         "Електронний підпис успішно створений.",
		msgNotSigned:      "Електронний підпис не створено.",
		msgValid:          "Цифровий підпис дійсний.",
		msgInvalid:        "Цифровий підпис недійсний.",
		msgFailed:         "Операцію не виконано.",
		msgLanguage:       "Мову змінено.",
		msgNotFound:       "Метод не знайдено.",
		msgTooLarge:       "Розмір даних перевищує допустимий.",
		msgBusy:           "Забагато відкритих сесій.",
	},
	"ru": {
		msgOK:             "Операция успешно выполнена.",
		msgStatus:         "Сервисы находятся в работоспособном состоянии.",
		msgSessionCreated: "Создана сессия.",
		msgSessionDeleted: "Сессия удалена.",
		msgSessionMissing: "Сессия отсутствует.",
		msgBadParameter:   "Некорректный параметр.",
		msgRefused:        "Пользователь отказал в выполнении операции.",
		msgRunning:        "Операция находится в стадии выполнения.",
		msgSigned:         "Электронная подпись успешно создана.",
		msgNotSigned:      "Электронная подпись не создана.",
		msgValid:          "Цифровая подпись действительна.",
		msgInvalid:        "Цифровая подпись недействительна.",
		msgFailed:         "Операция не выполнена.",
		msgLanguage:       "Язык изменён.",
		msgNotFound:       "Метод не найден.",
		msgTooLarge:       "Размер данных превышает допустимый.",
		msgBusy:           "Слишком много открытых сессий.",
	},
	"en": {
		msgOK:             "The operation succeeded.",
		msgStatus:         "The services are up and running.",
		msgSessionCreated: "Session created.",
		msgSessionDeleted: "Session deleted.",
		msgSessionMissing: "Session missing.",
		msgBadParameter:   "Invalid parameter.",
		msgRefused:        "The user refused the operation.",
		msgRunning:        "The operation is in progress.",
		msgSigned:         "The electronic signature was created.",
		msgNotSigned:      "The electronic signature was not created.",
		msgValid:          "The digital signature is valid.",
		msgInvalid:        "The digital signature is invalid.",
		msgFailed:         "The operation failed.",
		msgLanguage:       "Language changed.",
		msgNotFound:       "No such method.",
		msgTooLarge:       "The data exceeds the allowed size.",
		msgBusy:           "Too many open sessions.",
	},
}

// language is the agent-wide message language (Cipher switches it for the
// whole agent, not per session).
type language struct{ v atomic.Value }

func (l *language) get() string {
	if s, ok := l.v.Load().(string); ok {
		return s
	}
	return "uk"
}

func (l *language) text(m msg) string { return messages[l.get()][m] }

// apiError is an error the API answers with its status, message and cause.
type apiError struct {
	status int
	msg    msg
	cause  string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.msg, e.cause) }

func badParam(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: msgBadParameter, cause: fmt.Sprintf(format, args...)}
}

var errSessionMissing = &apiError{status: http.StatusBadRequest, msg: msgSessionMissing}

// failure maps an error of an operation to the API's answer: a refusal of
// the person or the policy is 403, an apiError keeps its own, anything else
// is 500 with failed as the message.
func failure(err error, failed msg) *apiError {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, sdk.ErrDenied), errors.Is(err, sdk.ErrCancelled), errors.Is(err, sdk.ErrTimeout):
		return &apiError{status: http.StatusForbidden, msg: msgRefused, cause: causeOf(err)}
	default:
		return &apiError{status: http.StatusInternalServerError, msg: failed, cause: causeOf(err)}
	}
}

// causeOf is the failureCause text of err: the host's sentinel errors in
// words, without the internals of the host or of the plugin.
func causeOf(err error) string {
	switch {
	case errors.Is(err, sdk.ErrDenied):
		return "refused by the person or the policy"
	case errors.Is(err, sdk.ErrTimeout):
		return "nobody answered the question in time"
	case errors.Is(err, sdk.ErrCancelled):
		return "the question was cancelled"
	case errors.Is(err, sdk.ErrPINIncorrect):
		return "the PIN or password is incorrect"
	case errors.Is(err, sdk.ErrPINLocked):
		return "the PIN is locked"
	case errors.Is(err, sdk.ErrKeyNotFound):
		return "the key was not found"
	case errors.Is(err, sdk.ErrTokenRemoved):
		return "the token was removed"
	case errors.Is(err, sdk.ErrUnavailable):
		return "the key service is not available"
	}
	return err.Error()
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// reply is the standard result object.
type reply struct {
	Message      string `json:"message"`
	FailureCause string `json:"failureCause,omitempty"`
}
