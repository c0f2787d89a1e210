variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "statectl"
}

variable "gcp_project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region (Cloud SQL regional HA spans two zones of it)."
  type        = string
  default     = "us-central1"
}

variable "network" {
  description = "Self link of the VPC network with private services access."
  type        = string
}

variable "postgres_tier" {
  description = "Cloud SQL machine tier."
  type        = string
  default     = "db-custom-2-8192"
}

variable "postgres_storage_gb" {
  description = "Disk size in GB."
  type        = number
  default     = 100
}

variable "postgres_read_replicas" {
  description = "Cloud SQL read replicas besides the HA standby."
  type        = number
  default     = 0
}

variable "backup_start_time" {
  description = "Start of the daily backup (UTC, HH:MM)."
  type        = string
  default     = "03:00"
}

variable "redis_memory_gb" {
  description = "Memorystore capacity in GB."
  type        = number
  default     = 5
}

variable "redis_replicas" {
  description = "Memorystore read replicas (STANDARD_HA)."
  type        = number
  default     = 1
}

variable "postgres_password" {
  description = "Password of the postgres user; statectl passes it as TF_VAR_postgres_password from its secret store."
  type        = string
  sensitive   = true
}
