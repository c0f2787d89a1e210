variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "statectl"
}

variable "location" {
  description = "Azure region (needs availability zones for zone redundancy)."
  type        = string
  default     = "eastus"
}

variable "resource_group_name" {
  description = "Existing resource group."
  type        = string
}

variable "delegated_subnet_id" {
  description = "Subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers."
  type        = string
}

variable "private_dns_zone_id" {
  description = "Private DNS zone of the flexible server."
  type        = string
}

variable "redis_subnet_id" {
  description = "Subnet of the Premium Redis cache."
  type        = string
}

variable "postgres_sku" {
  description = "Flexible server SKU."
  type        = string
  default     = "GP_Standard_D2ds_v4"
}

variable "postgres_storage_gb" {
  description = "Storage in GB."
  type        = number
  default     = 100
}

variable "redis_sku_capacity" {
  description = "Premium cache size (P1 = 1 ... P5 = 5)."
  type        = string
  default     = "P1"
}

variable "redis_replicas" {
  description = "Replicas per primary of the Premium cache."
  type        = number
  default     = 1
}

variable "postgres_password" {
  description = "Administrator password; statectl passes it as TF_VAR_postgres_password from its secret store."
  type        = string
  sensitive   = true
}
