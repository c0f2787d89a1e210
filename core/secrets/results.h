#pragma once

// The results of the secrets commands, each rendered by the printer as JSON (to_json) or text
// (to_text). No result holds a secret's value except SecretValue (`secrets get`).

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/secrets/manage.h"
#include "core/secrets/push.h"

namespace statectl::secrets {

// `secrets generate`: what happened to each name.
struct GenerateReport {
  std::string dir;
  bool encrypted = false;
  bool dry_run = false;
  std::vector<GenerateEntry> secrets;
};

// `secrets tls`: the certificate issued (or, with dry_run, that would be).
struct TlsReport {
  std::string dir;
  bool dry_run = false;
  TlsResult issued;
  std::vector<std::string> applied; // --apply: the steps on the running stack
};

// `secrets list`: names, kinds, dates and expiry of the stored secrets.
struct SecretList {
  std::string dir;
  std::vector<ListEntry> secrets;
};

// `secrets get -o json`: one secret's value (text mode prints the raw value).
struct SecretValue {
  std::string name;
  std::string value;
};

// `secrets rotate`: what was replaced, kept and applied. apply_requested tells the text form
// whether to remind that the servers still use the old password.
struct RotateReport {
  RotateResult rotated;
  bool dry_run = false;
  bool apply_requested = false;
};

// `secrets keygen --out FILE`: the key file written and the key's id.
struct KeygenResult {
  std::string key_file;
  std::string key_id;
};

void to_json(nlohmann::json& j, const GenerateReport& r);
void to_json(nlohmann::json& j, const TlsReport& r);
void to_json(nlohmann::json& j, const SecretList& r);
void to_json(nlohmann::json& j, const SecretValue& r);
void to_json(nlohmann::json& j, const RotateReport& r);
void to_json(nlohmann::json& j, const PushResult& r);
void to_json(nlohmann::json& j, const KeygenResult& r);

// One "ACTION NAME" line per secret.
std::string to_text(const GenerateReport& r);
// "issued an KEY certificate for CN (...), signed by ..., expires ..." and the names.
std::string to_text(const TlsReport& r);
// The NAME / KIND / ... table (nothing when the store is empty).
std::string to_text(const SecretList& r);
// The raw value, no newline added.
std::string to_text(const SecretValue& r);
// "rotated NAMES", the backups, the steps applied and the verification.
std::string to_text(const RotateReport& r);
// "pushed N secrets to TARGET DESTINATION: NAMES".
std::string to_text(const PushResult& r);
// "wrote FILE (key id ID); set [secrets] key_file = ...".
std::string to_text(const KeygenResult& r);

} // namespace statectl::secrets
