variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "{{name}}"
}

variable "gcp_project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region (Cloud SQL regional HA spans two zones of it)."
  type        = string
  default     = "{{tf_region}}"
}

variable "network" {
  description = "Self link of the VPC network with private services access."
  type        = string
}

variable "postgres_tier" {
  description = "Cloud SQL machine tier."
  type        = string
  default     = "{{tf_postgres_instance}}"
}

variable "postgres_storage_gb" {
  description = "Disk size in GB."
  type        = number
  default     = {{tf_storage_gb}}
}

variable "postgres_read_replicas" {
  description = "Cloud SQL read replicas besides the HA standby."
  type        = number
  default     = {{tf_pg_read_replicas}}
}

variable "backup_start_time" {
  description = "Start of the daily backup (UTC, HH:MM)."
  type        = string
  default     = "{{tf_backup_start}}"
}

variable "redis_memory_gb" {
  description = "Memorystore capacity in GB."
  type        = number
  default     = {{tf_redis_node}}
}

variable "redis_replicas" {
  description = "Memorystore read replicas (STANDARD_HA)."
  type        = number
  default     = {{tf_redis_replicas}}
}

variable "postgres_password" {
  description = "Password of the {{postgres.superuser}} user; statectl passes it as TF_VAR_postgres_password from its secret store."
  type        = string
  sensitive   = true
}
