# Slotgate's limits as code: the three limits that the examples in ../examples use.
#
#   slotgate terraform install     # once: the provider, in Terraform's local mirror
#   terraform init                 # offline
#   terraform apply
#
# The server is the provider's endpoint and api_key, else SLOTGATE_API_URL and SLOTGATE_API_KEY.

terraform {
  required_providers {
    slotgate = {
      source  = "slotgate/slotgate"
      version = "~> 0.1"
    }
  }
}

provider "slotgate" {}

variable "database_max_connections" {
  description = "The database's max_connections: no more connections than this are opened at once."
  type        = number
  default     = 10
}

# Guards every database connection, from any number of threads, processes and hosts.
resource "slotgate_concurrency_limit" "database" {
  name  = "database"
  limit = var.database_max_connections
}

# A heavy job takes all 5 slots and runs alone; light jobs take one each.
resource "slotgate_concurrency_limit" "data_processing" {
  name  = "data-processing"
  limit = 5
}

# A rate limit: 5 task submissions per second, in bursts of up to 5.
resource "slotgate_concurrency_limit" "task_submission" {
  name                  = "task-submission"
  limit                 = 5
  slot_decay_per_second = 5
}

# Live usage, read at every plan; runtime state is never part of the managed resources.
data "slotgate_concurrency_limit" "database" {
  name = slotgate_concurrency_limit.database.name
}

output "database_usage" {
  description = "Slots of the database limit held now, and by how many leases."
  value = {
    active_slots = data.slotgate_concurrency_limit.database.active_slots
    limit        = data.slotgate_concurrency_limit.database.limit
    open_leases  = data.slotgate_concurrency_limit.database.open_leases
  }
}
