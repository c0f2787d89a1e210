locals {
  labels = {
    "managed-by" = "statectl"
    "project"    = var.name
  }
}

resource "google_sql_database_instance" "postgres" {
  name                = "${var.name}-postgres"
  database_version    = "POSTGRES_16"
  region              = var.region
  deletion_protection = {{tf_deletion_protection}}

  settings {
    tier              = var.postgres_tier
    availability_type = "REGIONAL"
    disk_type         = "PD_SSD"
    disk_size         = var.postgres_storage_gb
    disk_autoresize   = true
    user_labels       = local.labels

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
      start_time                     = var.backup_start_time
      transaction_log_retention_days = {{backup.retention_daily}}

      backup_retention_settings {
        retained_backups = {{backup.retention_daily}}
      }
    }

    ip_configuration {
      ipv4_enabled    = false
      private_network = var.network
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    database_flags {
      name  = "max_connections"
      value = "{{postgres.max_connections}}"
    }

    maintenance_window {
      day  = 7
      hour = 5
    }
  }
}

resource "google_sql_database_instance" "postgres_replica" {
  count                = var.postgres_read_replicas
  name                 = "${var.name}-postgres-replica-${count.index + 1}"
  master_instance_name = google_sql_database_instance.postgres.name
  database_version     = "POSTGRES_16"
  region               = var.region
  deletion_protection  = {{tf_deletion_protection}}

  settings {
    tier        = var.postgres_tier
    user_labels = local.labels

    ip_configuration {
      ipv4_enabled    = false
      private_network = var.network
      ssl_mode        = "ENCRYPTED_ONLY"
    }
  }
}

resource "google_sql_database" "state" {
  name     = "{{postgres.database}}"
  instance = google_sql_database_instance.postgres.name
}

resource "google_sql_user" "superuser" {
  name     = "{{postgres.superuser}}"
  instance = google_sql_database_instance.postgres.name
  password = var.postgres_password
}

resource "google_redis_instance" "redis" {
  name                    = "${var.name}-redis"
  tier                    = "STANDARD_HA"
  memory_size_gb          = var.redis_memory_gb
  region                  = var.region
  redis_version           = "REDIS_7_2"
  authorized_network      = var.network
  connect_mode            = "PRIVATE_SERVICE_ACCESS"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  replica_count           = var.redis_replicas
  read_replicas_mode      = "READ_REPLICAS_ENABLED"
  labels                  = local.labels

  redis_configs = {
    "maxmemory-policy" = "{{redis.maxmemory_policy}}"
  }

  persistence_config {
    persistence_mode    = "RDB"
    rdb_snapshot_period = "ONE_HOUR"
  }
}
