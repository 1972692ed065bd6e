package sqlstore

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// Every slice of a decoded client must come back without spare capacity, or an
// append on one caller's copy would write into the array the cache shares. The
// test fills every slice field by reflection, so a field added later without a
// line in clipClient fails here.
func TestClientDecoderCopiesDoNotShareAppends(t *testing.T) {
	var c storage.Client
	v := reflect.ValueOf(&c).Elem()
	var slices []string
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Slice {
			continue
		}
		slices = append(slices, v.Type().Field(i).Name)
		// Three elements: encoding/json grows slices past their length.
		elem := reflect.New(f.Type().Elem()).Elem()
		if elem.Kind() == reflect.String {
			elem.SetString("x")
		} else if elem.Kind() == reflect.Slice {
			elem.Set(reflect.ValueOf([]byte("x")))
		} else {
			elem.Set(reflect.ValueOf(byte('x')).Convert(elem.Type()))
		}
		f.Set(reflect.Append(reflect.Append(reflect.Append(reflect.MakeSlice(f.Type(), 0, 0), elem), elem), elem))
	}
	data, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	var d clientDecoder
	first, err := d.decode(string(data))
	if err != nil {
		t.Fatal(err)
	}
	fv := reflect.ValueOf(first).Elem()
	for _, name := range slices {
		f := fv.FieldByName(name)
		if f.Len() != f.Cap() {
			t.Errorf("%s: decoded with len %d, cap %d: clipClient must clip it", name, f.Len(), f.Cap())
		}
	}

	// A caller changing its copy leaves the next caller's copy as stored.
	first.Scopes = append(first.Scopes, "changed")
	first.Name = "changed"
	second, err := d.decode(string(data))
	if err != nil {
		t.Fatal(err)
	}
	if second.Name == "changed" || len(second.Scopes) != 3 {
		t.Fatalf("the second copy shows the first caller's changes: %q %v", second.Name, second.Scopes)
	}
	if second == first {
		t.Fatal("decode returned the same pointer twice")
	}
}

// A client stored with other bytes (updated, secret rotated) is decoded afresh.
func TestClientDecoderKeysOnStoredBytes(t *testing.T) {
	var d clientDecoder
	a, err := d.decode(`{"client_id":"c","name":"Avant"}`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.decode(`{"client_id":"c","name":"Après"}`)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "Avant" || b.Name != "Après" {
		t.Fatalf("got %q then %q", a.Name, b.Name)
	}
	if _, err := d.decode(`{"client_id":`); err == nil {
		t.Fatal("broken JSON decoded without error")
	}
}
