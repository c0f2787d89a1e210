locals {
  tags = {
    "managed-by" = "statectl"
    "project"    = var.name
  }
}

resource "aws_security_group" "state" {
  name        = "${var.name}-state"
  description = "PostgreSQL and Redis of ${var.name}"
  vpc_id      = var.vpc_id
  tags        = local.tags

  ingress {
    description = "PostgreSQL"
    from_port   = 5432
    to_port     = 5432
    protocol    = "tcp"
    cidr_blocks = var.allowed_cidr_blocks
  }

  ingress {
    description = "Redis"
    from_port   = 6379
    to_port     = 6379
    protocol    = "tcp"
    cidr_blocks = var.allowed_cidr_blocks
  }
}

resource "aws_db_subnet_group" "postgres" {
  name       = "${var.name}-postgres"
  subnet_ids = var.subnet_ids
  tags       = local.tags
}

resource "aws_db_parameter_group" "postgres" {
  name   = "${var.name}-postgres16"
  family = "postgres16"
  tags   = local.tags

  parameter {
    name         = "max_connections"
    value        = "{{postgres.max_connections}}"
    apply_method = "pending-reboot"
  }

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "aws_db_instance" "postgres" {
  identifier                   = "${var.name}-postgres"
  engine                       = "postgres"
  engine_version               = "16"
  instance_class               = var.postgres_instance_class
  allocated_storage            = var.postgres_storage_gb
  max_allocated_storage        = var.postgres_storage_gb * 4
  storage_type                 = "gp3"
  storage_encrypted            = true
  db_name                      = "{{postgres.database}}"
  username                     = "{{postgres.superuser}}"
  password                     = var.postgres_password
  multi_az                     = true
  db_subnet_group_name         = aws_db_subnet_group.postgres.name
  vpc_security_group_ids       = [aws_security_group.state.id]
  parameter_group_name         = aws_db_parameter_group.postgres.name
  backup_retention_period      = {{backup.retention_daily}}
  backup_window                = var.backup_window
  maintenance_window           = "sun:05:00-sun:06:00"
  deletion_protection          = {{tf_deletion_protection}}
  skip_final_snapshot          = false
  final_snapshot_identifier    = "${var.name}-postgres-final"
  copy_tags_to_snapshot        = true
  auto_minor_version_upgrade   = true
  publicly_accessible          = false
  performance_insights_enabled = true
  tags                         = local.tags
}

resource "aws_db_instance" "postgres_replica" {
  count                  = var.postgres_read_replicas
  identifier             = "${var.name}-postgres-replica-${count.index + 1}"
  replicate_source_db    = aws_db_instance.postgres.identifier
  instance_class         = var.postgres_instance_class
  storage_encrypted      = true
  vpc_security_group_ids = [aws_security_group.state.id]
  parameter_group_name   = aws_db_parameter_group.postgres.name
  skip_final_snapshot    = true
  publicly_accessible    = false
  tags                   = local.tags
}

resource "aws_elasticache_subnet_group" "redis" {
  name       = "${var.name}-redis"
  subnet_ids = var.subnet_ids
  tags       = local.tags
}

resource "aws_elasticache_parameter_group" "redis" {
  name   = "${var.name}-redis7"
  family = "redis7"
  tags   = local.tags

  parameter {
    name  = "maxmemory-policy"
    value = "{{redis.maxmemory_policy}}"
  }
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id       = "${var.name}-redis"
  description                = "Redis of ${var.name}"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = var.redis_replicas + 1
  port                       = 6379
  parameter_group_name       = aws_elasticache_parameter_group.redis.name
  subnet_group_name          = aws_elasticache_subnet_group.redis.name
  security_group_ids         = [aws_security_group.state.id]
  automatic_failover_enabled = true
  multi_az_enabled           = true
  transit_encryption_enabled = true
  at_rest_encryption_enabled = true
  auth_token                 = var.redis_password
  snapshot_retention_limit   = {{backup.retention_daily}}
  snapshot_window            = var.backup_window
  apply_immediately          = false
  tags                       = local.tags
}
