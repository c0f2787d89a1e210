variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "{{name}}"
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "{{tf_region}}"
}

variable "vpc_id" {
  description = "VPC the databases live in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (at least two availability zones) for RDS and ElastiCache."
  type        = list(string)
}

variable "allowed_cidr_blocks" {
  description = "CIDR blocks of the application allowed to connect."
  type        = list(string)
}

variable "postgres_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "{{tf_postgres_instance}}"
}

variable "postgres_storage_gb" {
  description = "Allocated storage in GB."
  type        = number
  default     = {{tf_storage_gb}}
}

variable "postgres_read_replicas" {
  description = "RDS read replicas besides the Multi-AZ standby."
  type        = number
  default     = {{tf_pg_read_replicas}}
}

variable "backup_window" {
  description = "Daily backup window (UTC)."
  type        = string
  default     = "{{tf_backup_window}}"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "{{tf_redis_node}}"
}

variable "redis_replicas" {
  description = "ElastiCache replicas of the primary node (failover needs at least one)."
  type        = number
  default     = {{tf_redis_replicas}}
}

variable "postgres_password" {
  description = "Master password of RDS; statectl passes it as TF_VAR_postgres_password from its secret store."
  type        = string
  sensitive   = true
}

variable "redis_password" {
  description = "ElastiCache AUTH token; statectl passes it as TF_VAR_redis_password from its secret store."
  type        = string
  sensitive   = true
}
