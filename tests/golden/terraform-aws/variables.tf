variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "statectl"
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
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
  default     = "db.r6g.large"
}

variable "postgres_storage_gb" {
  description = "Allocated storage in GB."
  type        = number
  default     = 100
}

variable "postgres_read_replicas" {
  description = "RDS read replicas besides the Multi-AZ standby."
  type        = number
  default     = 0
}

variable "backup_window" {
  description = "Daily backup window (UTC)."
  type        = string
  default     = "03:00-04:00"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.r6g.large"
}

variable "redis_replicas" {
  description = "ElastiCache replicas of the primary node (failover needs at least one)."
  type        = number
  default     = 1
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
