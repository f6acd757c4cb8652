package lab

import (
	"testing"
)

func TestParseOutputs(t *testing.T) {
	want := Outputs{ANS: "dp-x-a-vm", BNS: "dp-x-b-vm", AIP: "10.1.1.4",
		Files: Files{ServerRootCA: "/s/ca.crt", ClientCert: "/s/c.crt", ClientKey: "/s/c.key"}}
	tests := map[string]struct {
		in      string
		wantErr bool
	}{
		"plain": {in: `{"cluster_a_vm_namespace":"dp-x-a-vm","cluster_b_vm_namespace":"dp-x-b-vm","cluster_a_vm_private_ip":"10.1.1.4",
			"client_certificate_files":{"server_root_ca":"/s/ca.crt","client_cert":"/s/c.crt","client_key":"/s/c.key"},"other":3}`},
		"terraform style": {in: `{"cluster_a_vm_namespace":{"value":"dp-x-a-vm"},"cluster_b_vm_namespace":{"value":"dp-x-b-vm"},
			"cluster_a_vm_private_ip":{"value":"10.1.1.4","sensitive":false},
			"client_certificate_files":{"value":{"server_root_ca":"/s/ca.crt","client_cert":"/s/c.crt","client_key":"/s/c.key"}}}`},
		"missing":  {in: `{"cluster_a_vm_namespace":"dp-x-a-vm"}`, wantErr: true},
		"not json": {in: `up: done`, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseOutputs([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}
