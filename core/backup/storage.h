#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace statectl::backup {

// One stored object of a repository: its key relative to the repository root
// ("backups/20261122-033512F/manifest.json"), size in bytes and last modification time.
struct ObjectInfo {
  std::string key;
  std::uint64_t size = 0;
  std::int64_t mtime_us = 0;
};

// A readable local file holding an object's bytes. For a local repository it is the stored file
// itself; for object storage a downloaded copy that is removed when this is destroyed.
class LocalCopy {
public:
  LocalCopy() = default;
  LocalCopy(std::filesystem::path path, bool temporary) : m_path(std::move(path)), m_temporary(temporary) {}
  ~LocalCopy();
  LocalCopy(LocalCopy&& other) noexcept;
  LocalCopy& operator=(LocalCopy&& other) noexcept;
  LocalCopy(const LocalCopy&) = delete;
  LocalCopy& operator=(const LocalCopy&) = delete;

  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
  bool m_temporary = false;
};

// Where a repository's objects live: one implementation per kind of storage (a local folder,
// S3-compatible object storage), as pgBackRest's storage drivers. Keys use '/' separators and
// never start with '/'. Every write is atomic: an object is either absent or complete, so a
// backup whose manifest.json (written last) is present is complete.
class Storage {
public:
  virtual ~Storage() = default;

  // The repository as users name it: "/srv/backups" or "s3://bucket/prefix".
  virtual std::string location() const = 0;
  // The root folder of a local repository; empty for object storage.
  virtual std::filesystem::path local_root() const { return {}; }
  // Makes the repository usable: creates a local folder, or checks that the bucket answers to
  // these credentials. Throws Error (exit 3 for an unreachable or refusing store).
  virtual void ensure() = 0;

  // A local path to write key's bytes to (atomically, e.g. with ZstdFileWriter); commit() then
  // publishes it. For a local repository this is the object's final place.
  virtual std::filesystem::path stage(const std::string& key) = 0;
  // Publishes the file written at stage(key): a local repository hands it to the repository's
  // owner; object storage uploads it (in parts when large, each part's digest checked by the
  // server), compares the stored size, and removes the staged file.
  virtual void commit(const std::string& key, const std::filesystem::path& staged) = 0;
  // Forgets a staged file that will not be committed.
  virtual void discard(const std::filesystem::path& staged) = 0;

  // Writes a small object atomically.
  virtual void put(const std::string& key, std::string_view data) = 0;
  // A small object's bytes, or nullopt when absent.
  virtual std::optional<std::string> get(const std::string& key) = 0;
  // A local file with the object's bytes; throws Error(failed) when the object is absent.
  virtual LocalCopy fetch(const std::string& key) = 0;
  // Every object whose key starts with prefix, sorted by key. A local folder also lists files
  // being written (".NAME.tmp.*"): they show an interrupted backup as incomplete.
  virtual std::vector<ObjectInfo> list(const std::string& prefix) = 0;
  // Removes one object (absent is fine).
  virtual void remove(const std::string& key) = 0;
  // Removes every object whose key starts with prefix (a "folder" when it ends with '/').
  virtual void remove_prefix(const std::string& prefix) = 0;
  // A local file that serialises writers of this repository on this machine (flock).
  virtual std::filesystem::path lock_path() const = 0;
};

// A repository in a local folder. When owner is set and statectl runs as root, new folders and
// files are handed to that user so the server's archive_command (running as it) can write.
class LocalStorage : public Storage {
public:
  explicit LocalStorage(std::filesystem::path root, std::string owner = {});

  std::string location() const override { return m_root.string(); }
  std::filesystem::path local_root() const override { return m_root; }
  void ensure() override;
  std::filesystem::path stage(const std::string& key) override;
  void commit(const std::string& key, const std::filesystem::path& staged) override;
  void discard(const std::filesystem::path& staged) override;
  void put(const std::string& key, std::string_view data) override;
  std::optional<std::string> get(const std::string& key) override;
  LocalCopy fetch(const std::string& key) override;
  std::vector<ObjectInfo> list(const std::string& prefix) override;
  void remove(const std::string& key) override;
  void remove_prefix(const std::string& prefix) override;
  std::filesystem::path lock_path() const override { return m_root / "lock"; }

  // Gives path to the owner user when statectl runs as root (no-op otherwise).
  void adopt(const std::filesystem::path& path) const;

private:
  void make_parents(const std::filesystem::path& path) const;

  std::filesystem::path m_root;
  std::string m_owner;
};

} // namespace statectl::backup
