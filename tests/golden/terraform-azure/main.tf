locals {
  tags = {
    "managed-by" = "statectl"
    "project"    = var.name
  }
  storage_mb = var.postgres_storage_gb * 1024
}

resource "azurerm_postgresql_flexible_server" "postgres" {
  name                          = "${var.name}-postgres"
  resource_group_name           = var.resource_group_name
  location                      = var.location
  version                       = "16"
  sku_name                      = var.postgres_sku
  storage_mb                    = local.storage_mb
  administrator_login           = "postgres"
  administrator_password        = var.postgres_password
  delegated_subnet_id           = var.delegated_subnet_id
  private_dns_zone_id           = var.private_dns_zone_id
  public_network_access_enabled = false
  backup_retention_days         = 7
  geo_redundant_backup_enabled  = true
  zone                          = "1"
  tags                          = local.tags

  high_availability {
    mode                      = "ZoneRedundant"
    standby_availability_zone = "2"
  }

  maintenance_window {
    day_of_week  = 0
    start_hour   = 5
    start_minute = 0
  }
}

resource "azurerm_postgresql_flexible_server_configuration" "max_connections" {
  name      = "max_connections"
  server_id = azurerm_postgresql_flexible_server.postgres.id
  value     = "200"
}

resource "azurerm_postgresql_flexible_server_configuration" "require_secure_transport" {
  name      = "require_secure_transport"
  server_id = azurerm_postgresql_flexible_server.postgres.id
  value     = "on"
}

resource "azurerm_postgresql_flexible_server_database" "state" {
  name      = "postgres"
  server_id = azurerm_postgresql_flexible_server.postgres.id
  charset   = "UTF8"
  collation = "en_US.utf8"
}

resource "azurerm_redis_cache" "redis" {
  name                          = "${var.name}-redis"
  location                      = var.location
  resource_group_name           = var.resource_group_name
  capacity                      = tonumber(trimprefix(var.redis_sku_capacity, "P"))
  family                        = "P"
  sku_name                      = "Premium"
  non_ssl_port_enabled          = false
  minimum_tls_version           = "1.2"
  replicas_per_primary          = var.redis_replicas
  zones                         = ["1", "2", "3"]
  subnet_id                     = var.redis_subnet_id
  public_network_access_enabled = false
  tags                          = local.tags

  redis_configuration {
    maxmemory_policy   = "allkeys-lru"
    rdb_backup_enabled = false
  }
}
