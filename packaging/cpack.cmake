# CPack: `cpack -G DEB` in the build tree produces statectl_<version>_<arch>.deb with the binary,
# the man page, bash/zsh/fish completions and the templates under share/statectl/.
set(CPACK_PACKAGE_NAME statectl)
set(CPACK_PACKAGE_VENDOR "statectl")
set(CPACK_PACKAGE_CONTACT "statectl maintainers <maintainers@statectl.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "deploy, back up and fail over Redis and PostgreSQL state backends")
# The extended description (lintian: extended-description-is-empty). CPack puts the summary
# above it and indents each line itself.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "statectl is one command-line tool that deploys a PostgreSQL and Redis state
backend (as local processes, with Docker Compose, on Kubernetes or with
Terraform), checks its health and capacity, takes and verifies physical
backups with a WAL archive, restores to a point in time, tests failover and
gives applications a key-value store with fenced locks on either backend.")
# Stripped binary (lintian: unstripped-binary-or-object); the build tree keeps its symbols.
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libpq and libcurl are loaded with dlopen when first used, so dpkg-shlibdeps does not see them.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libpq5 (>= 15), libcurl4 (>= 7.75)")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql-15, pgbouncer, redis-server, redis-sentinel, redis-tools")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "patroni, etcd-server, haproxy, docker-compose, kubectl, terraform, prometheus, prometheus-postgres-exporter, prometheus-redis-exporter")
set(CPACK_GENERATOR DEB)
include(CPack)
