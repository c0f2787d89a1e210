# CPack: `cpack -G DEB` in the build tree produces statectl_<version>_<arch>.deb with the binary,
# the man page, bash/zsh/fish completions and the templates under share/statectl/.
set(CPACK_PACKAGE_NAME statectl)
set(CPACK_PACKAGE_VENDOR "statectl")
set(CPACK_PACKAGE_CONTACT "statectl maintainers <statectl@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Deploy, back up, fail over and use Redis and PostgreSQL state backends")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql-15, pgbouncer, redis-server, redis-sentinel, redis-tools")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "patroni, etcd-server, haproxy, docker-compose, kubectl, terraform, prometheus, prometheus-postgres-exporter, prometheus-redis-exporter")
set(CPACK_GENERATOR DEB)
include(CPack)
