"""The Slotgate Terraform provider: manage limits with `terraform apply`."""
