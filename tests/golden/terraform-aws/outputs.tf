output "postgres_endpoint" {
  description = "host:port of the RDS primary."
  value       = aws_db_instance.postgres.endpoint
}

output "postgres_replica_endpoints" {
  description = "host:port of each read replica."
  value       = aws_db_instance.postgres_replica[*].endpoint
}

output "redis_primary_endpoint" {
  description = "Primary endpoint of the replication group (TLS)."
  value       = aws_elasticache_replication_group.redis.primary_endpoint_address
}

output "redis_reader_endpoint" {
  description = "Reader endpoint of the replication group (TLS)."
  value       = aws_elasticache_replication_group.redis.reader_endpoint_address
}
