#pragma once

#include <chrono>
#include <string>

namespace statectl::clients {

// The serial number of a PEM certificate, as upper-case hex; empty when pem holds none.
std::string certificate_serial(const std::string& pem);

// The serial of the certificate the server on host:port presents, verified against ca_file
// (PostgreSQL's SSLRequest first when starttls_pg: PostgreSQL and PgBouncer speak TLS only after
// it); empty when the connection or the handshake fails. A probe for `secrets tls --apply`,
// which checks that a server took a new certificate.
std::string presented_serial(const std::string& host, int port, const std::string& ca_file, bool starttls_pg);

// presented_serial until it is `want`, at most `attempts` times `interval` apart (a server that
// just reloaded may still hand out its old context); returns the last serial seen, so want on
// success and "" when no handshake succeeded.
std::string await_serial(const std::string& host, int port, const std::string& ca_file, bool starttls_pg, const std::string& want, int attempts,
                         std::chrono::milliseconds interval);

} // namespace statectl::clients
