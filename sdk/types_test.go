package sdk

import (
	"errors"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signet-agent/signet/hsm"
	"github.com/signet-agent/signet/internal/wire"
)

// A refused PIN crosses the wire and reaches the plugin as the SDK's own
// *PINError, with the tries left, matching the sentinel.
func TestPINErrorFromHost(t *testing.T) {
	sent := &hsm.PINError{Token: "pkcs11:token=t", State: hsm.PINState{CountLow: true, Retries: 2}, Err: hsm.ErrPINIncorrect}
	err := fromHost(wire.ToStatus(sent))
	var pe *PINError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "pkcs11:token=t", pe.Token)
	assert.Equal(t, PINState{CountLow: true, Retries: 2}, pe.State)
	assert.ErrorIs(t, err, ErrPINIncorrect)
	assert.Equal(t, sent.Error(), err.Error())

	locked := fromHost(wire.ToStatus(&hsm.PINError{Token: "t", State: hsm.PINState{Locked: true, Retries: 0}, Err: hsm.ErrPINLocked}))
	assert.ErrorIs(t, locked, ErrPINLocked)
	assert.NotErrorIs(t, locked, ErrPINIncorrect)

	other := fromHost(wire.ToStatus(errors.Join(errors.New("no"), hsm.ErrDenied)))
	assert.ErrorIs(t, other, ErrDenied)
	assert.False(t, errors.As(other, &pe))
}

// fillAll sets every field of the struct v points to a non-zero value.
func fillAll(t *testing.T, v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x" + v.Type().Field(i).Name)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int:
			f.SetInt(int64(i + 1))
		case reflect.Slice, reflect.Pointer, reflect.Interface:
			if f.Type() == reflect.TypeOf([]byte(nil)) {
				f.SetBytes([]byte{byte(i)})
			} else if f.Kind() == reflect.Interface {
				f.Set(reflect.ValueOf(i))
			} else if f.Kind() == reflect.Slice {
				f.Set(reflect.MakeSlice(f.Type(), 1, 1))
			} else {
				f.Set(reflect.New(f.Type().Elem()))
			}
		case reflect.Struct:
			fillAll(t, f)
		default:
			t.Fatalf("field %s: kind %s not handled", v.Type().Field(i).Name, f.Kind())
		}
	}
}

// The SDK's key and token carry every field the host's key store reports
// (a PKCS#11 module path excepted: the host does not send it), so a field
// added to the store is not silently dropped at the boundary.
func TestKeyAndTokenCarryEveryField(t *testing.T) {
	var k hsm.KeyInfo
	fillAll(t, reflect.ValueOf(&k).Elem())
	got := reflect.ValueOf(keyFromStore(k))
	for i := 0; i < got.NumField(); i++ {
		if got.Type().Field(i).Name == "Withheld" {
			continue // the SDK's own: set from the listing's reply, not the store
		}
		assert.False(t, got.Field(i).IsZero(), "Key.%s not copied", got.Type().Field(i).Name)
	}
	assert.Equal(t, reflect.TypeOf(k).NumField()+1, got.NumField(), "hsm.KeyInfo and sdk.Key (less Withheld) differ in fields")

	var tok hsm.TokenInfo
	fillAll(t, reflect.ValueOf(&tok).Elem())
	gt := reflect.ValueOf(tokenFromStore(tok))
	for i := 0; i < gt.NumField(); i++ {
		assert.False(t, gt.Field(i).IsZero(), "Token.%s not copied", gt.Type().Field(i).Name)
	}
	assert.Equal(t, reflect.TypeOf(tok).NumField()-1, gt.NumField(), "hsm.TokenInfo (less Module) and sdk.Token differ in fields")
	assert.Equal(t, PINState(tok.Flags.PIN), tokenFromStore(tok).Flags.PIN)
}
