package sqlstore

import (
	"testing"
	"testing/fstest"
)

func TestReadMigrations(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string
		want    []int
		wantErr bool
	}{
		{"ordered by number, not name", map[string]string{"m/0010_b.sql": "b", "m/0002_a.sql": "a", "m/README": "x"}, []int{2, 10}, false},
		{"duplicate version", map[string]string{"m/0001_a.sql": "a", "m/1_b.sql": "b"}, nil, true},
		{"no number", map[string]string{"m/initial.sql": "a"}, nil, true},
		{"zero", map[string]string{"m/0000_a.sql": "a"}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for n, c := range tc.files {
				fsys[n] = &fstest.MapFile{Data: []byte(c)}
			}
			migs, err := ReadMigrations(fsys, "m")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			var got []int
			for _, m := range migs {
				got = append(got, m.Version)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("versions = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("versions = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
