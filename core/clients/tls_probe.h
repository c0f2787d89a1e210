#pragma once

#include <string>

namespace statectl::clients {

// The serial number of a PEM certificate, as upper-case hex; empty when pem holds none.
std::string certificate_serial(const std::string& pem);

// The serial of the certificate the server on host:port presents, verified against ca_file
// (PostgreSQL's SSLRequest first when starttls_pg: PostgreSQL and PgBouncer speak TLS only after
// it); empty when the connection or the handshake fails. A probe for `secrets tls --apply`,
// which checks that a server took a new certificate.
std::string presented_serial(const std::string& host, int port, const std::string& ca_file, bool starttls_pg);

} // namespace statectl::clients
