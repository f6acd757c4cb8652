# An upstream (HEAD) terraform.tfvars: must load unchanged.
environment     = "dev"
resource_prefix = "myorg"
location        = "eastus2"
instance        = "001"

cluster_a_virtual_network_config = {
  address_space         = "10.1.0.0/16"
  subnet_address_prefix = "10.1.1.0/24"
}

should_create_anonymous_broker_listener = true
enterprise_broker_port                  = 28883
enterprise_broker_server_cert_secret_name = "broker-server-cert"
site_client_secret_name                 = "client-secret"
cluster_a_node_count                    = 2
cluster_b_node_vm_size                  = "Standard_D4ds_v6"
cluster_b_node_pools = {
  extra = {
    node_count                  = 1
    vm_size                     = "Standard_D4ds_v6"
    subnet_address_prefixes     = ["10.2.5.0/24"]
    pod_subnet_address_prefixes = ["10.2.6.0/24"]
  }
}
aio_features = {
  connectors = { settings = { preview = "Enabled" } }
}
nat_gateway_zones = ["1"]
tags = { owner = "edge-team" }
should_create_acr_private_endpoint = false
