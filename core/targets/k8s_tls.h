#pragma once

// The k8s target's TLS (not a public API): the Secret that carries the certificate beside the
// passwords, and the TLS of statectl's own clients through `kubectl port-forward`.

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/clients/endpoint.h"
#include "core/config/config_fwd.h"
#include "core/deploy/tools.h"
#include "core/exec/runner.h"
#include "core/output/printer.h"
#include "core/render/render.h"
#include "core/stack/endpoints.h"

namespace statectl::targets::detail::k8s_tls {

// The Secret the manifests reference. A missing one is created from the secret store,
// generating the passwords the store does not have yet. An existing one is kept (its values are
// `secrets push`'s and `secrets rotate`'s job), unless the render speaks TLS and it lacks
// tls.crt, tls.key or ca.crt: then the store's values are pushed again, with the store's
// passwords only (none is generated for a Secret that exists: a new one would lock the servers
// out). With TLS the stack's certificate is issued into the store first when it has none.
// Returns "kept", "created" or "updated".
std::string ensure_secret(const config::Config& cfg, const render::Request& req, exec::Runner& runner, output::Printer& printer,
                          const deploy::Kubectl& kubectl);

// The TLS of statectl's clients: off unless the render speaks TLS; then the store's CA, written
// to <state dir>/k8s/secrets/ca.crt (kept across renders) for the clients to read. A stack
// applied in the other mode (plain text by an earlier statectl) is refused rather than failed
// with handshake errors, and never reached in plain text.
clients::ClientTls client_tls(const config::Config& cfg, const render::Request& req, const std::filesystem::path& dir);

// `secrets tls --apply --target k8s`, after the new certificate went into the store: pushes the
// Secret again from the store (refused when the store lacks one of the stack's passwords), waits
// up to timeout until every running container that mounts /tls/tls.crt sees the new certificate
// (the kubelet updates Secret volumes on its own schedule), reloads each server in place
// (PostgreSQL pg_reload_conf(), PgBouncer SIGHUP, Redis and Sentinel CONFIG SET tls-cert-file)
// and checks that the Services, reached through endpoints(), present it. Returns the steps done.
// Under --dry-run plans the push and stops. Throws Error(usage) without TLS, Error(failed) when a
// pod does not see the certificate in time or a Service still presents another one.
std::vector<std::string> apply_rotation(const config::Config& cfg, const render::Request& req, exec::Runner& runner, output::Printer& printer,
                                        const deploy::Kubectl& kubectl, const std::function<stack::Endpoints()>& endpoints,
                                        std::chrono::milliseconds timeout);

} // namespace statectl::targets::detail::k8s_tls
