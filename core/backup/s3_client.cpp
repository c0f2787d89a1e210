// S3Storage: the requests (libcurl, AWS Signature V4) and the Storage operations over them.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <random>
#include <regex>
#include <thread>
#include <unistd.h>

#include "core/backup/repository.h"
#include "core/backup/s3.h"
#include "core/backup/stream.h"
#include "core/error.h"
#include "core/util/fs.h"
#include "core/util/strings.h"

namespace statectl::backup {

namespace fs = std::filesystem;

namespace {

std::string replace_all(std::string s, std::string_view from, std::string_view to)
{
  for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) s.replace(pos, from.size(), to);
  return s;
}

std::string md5_base64(std::string_view data)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  unsigned char out[64];
  int n = EVP_EncodeBlock(out, md, static_cast<int>(len));
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

std::string xml_decode(std::string s)
{
  static const std::pair<const char*, const char*> k_entities[] = {{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}};
  for (const auto& [from, to] : k_entities) s = replace_all(s, from, to);
  return s;
}

// The text of each <tag>...</tag> in xml, in order.
std::vector<std::string> xml_all(const std::string& xml, const std::string& tag)
{
  std::vector<std::string> out;
  std::string open = "<" + tag + ">", close = "</" + tag + ">";
  for (std::size_t pos = xml.find(open); pos != std::string::npos; pos = xml.find(open, pos)) {
    auto end = xml.find(close, pos);
    if (end == std::string::npos) break;
    out.push_back(xml.substr(pos + open.size(), end - pos - open.size()));
    pos = end + close.size();
  }
  return out;
}

std::string xml_one(const std::string& xml, const std::string& tag)
{
  auto v = xml_all(xml, tag);
  return v.empty() ? "" : xml_decode(v.front());
}

struct CurlInit {
  CurlInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

struct Transfer {
  S3Storage::Response* response;
  int fd = -1;
  std::string write_error;
};

size_t on_header(char* data, size_t size, size_t n, void* user)
{
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (util::starts_with(line, "HTTP/")) {
    t->response->headers.clear();
    auto parts = util::split(line, ' ');
    if (parts.size() >= 2) t->response->status = std::atol(parts[1].c_str());
  } else if (auto colon = line.find(':'); colon != std::string::npos) {
    std::string name = util::to_lower(util::trim(line.substr(0, colon)));
    t->response->headers[name] = util::trim(line.substr(colon + 1));
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user)
{
  auto* t = static_cast<Transfer*>(user);
  std::size_t len = size * n;
  // Only a successful download goes to the file; an error document is kept for the message.
  if (t->fd < 0 || t->response->status < 200 || t->response->status >= 300) {
    t->response->body.append(data, len);
    return len;
  }
  const char* p = data;
  std::size_t left = len;
  while (left > 0) {
    ssize_t w = ::write(t->fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      t->write_error = std::strerror(errno);
      return 0;
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  return len;
}

bool retryable(long status) { return status == 429 || status >= 500; }

} // namespace

S3Storage::S3Storage(S3Settings settings, S3Credentials credentials, fs::path credentials_file, std::string owner)
  : m_settings(std::move(settings)), m_credentials(std::move(credentials)), m_credentials_file(std::move(credentials_file)),
    m_owner(std::move(owner))
{
  static CurlInit init;
  m_curl = curl_easy_init();
}

S3Storage::~S3Storage()
{
  curl_easy_cleanup(static_cast<CURL*>(m_curl));
  if (!m_spool.empty()) {
    std::error_code ec;
    fs::remove_all(m_spool, ec);
  }
}

std::string S3Storage::location() const
{
  return m_settings.prefix.empty() ? "s3://" + m_settings.bucket : fmt::format("s3://{}/{}", m_settings.bucket, m_settings.prefix);
}

fs::path S3Storage::lock_path() const
{
  // Object storage has no flock: writers on this machine serialise on a file named after the
  // repository in the temporary folder.
  return fs::temp_directory_path() / fmt::format("statectl-repo-{}.lock", sha256_hex(location() + "\n" + m_settings.endpoint).substr(0, 16));
}

const fs::path& S3Storage::spool()
{
  if (m_spool.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "statectl-s3.XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
      throw Error(ExitCode::failed, "cannot create a staging folder for the S3 repository", std::strerror(errno), "check TMPDIR and its free space");
    m_spool = tmpl;
  }
  return m_spool;
}

S3Storage::Response S3Storage::send_once(const std::string& method, const std::string& url, std::string_view body, const fs::path* download_to,
                                         std::string& transport_error)
{
  auto* curl = static_cast<CURL*>(m_curl);
  curl_easy_reset(curl);
  Response r;
  Transfer t{&r};
  if (download_to) {
    t.fd = ::open(download_to->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (t.fd < 0) throw Error(ExitCode::failed, fmt::format("cannot write {}", download_to->string()), std::strerror(errno));
  }
  std::string sigv4 = fmt::format("aws:amz:{}:s3", m_settings.region);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(curl, CURLOPT_USERNAME, m_credentials.access_key_id.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, m_credentials.secret_access_key.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  if (!m_settings.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, m_settings.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  struct curl_slist* headers = nullptr;
  // The payload's digest is signed, so a body changed on the way is refused by the server.
  headers = curl_slist_append(headers, fmt::format("x-amz-content-sha256: {}", sha256_hex(body)).c_str());
  if (!m_credentials.session_token.empty())
    headers = curl_slist_append(headers, fmt::format("x-amz-security-token: {}", m_credentials.session_token).c_str());
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "PUT" || method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
      headers = curl_slist_append(headers, fmt::format("Content-MD5: {}", md5_base64(body)).c_str());
      headers = curl_slist_append(headers, "Expect:");
    }
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (t.fd >= 0) {
    if (rc == CURLE_OK && r.status >= 200 && r.status < 300 && ::fsync(t.fd) != 0) t.write_error = std::strerror(errno);
    ::close(t.fd);
  }
  if (!t.write_error.empty()) throw Error(ExitCode::failed, fmt::format("cannot write {}", download_to->string()), t.write_error);
  if (rc != CURLE_OK) {
    transport_error = curl_easy_strerror(rc);
    r.status = 0;
  } else {
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    r.status = code;
  }
  return r;
}

S3Storage::Response S3Storage::request(const std::string& method, const std::string& key, const std::string& query, std::string_view body,
                                       const fs::path* download_to)
{
  if (m_credentials.empty())
    throw Error(ExitCode::usage, fmt::format("no S3 credentials for {}", location()),
                fmt::format("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, the secret store has no s3_access_key_id and "
                            "s3_secret_access_key, and {} does not exist",
                            m_credentials_file.string()),
                "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or keep them in the secret store as s3_access_key_id and "
                "s3_secret_access_key");
  std::string url = s3_url(m_settings, key, query);
  std::string transport_error;
  Response r;
  for (int attempt = 1;; ++attempt) {
    transport_error.clear();
    r = send_once(method, url, body, download_to, transport_error);
    bool again = r.status == 0 || retryable(r.status);
    if (!again || attempt >= m_settings.attempts) break;
    // Exponential backoff with jitter: 0.2 s, 0.4 s, 0.8 s, ... capped at 5 s.
    std::mt19937 rng(std::random_device{}());
    auto base = std::min<long>(5000, 200L << (attempt - 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(base / 2 + static_cast<long>(rng() % static_cast<unsigned>(base / 2 + 1))));
  }
  if (r.status == 0)
    throw Error(ExitCode::unavailable, fmt::format("cannot reach the S3 endpoint {}", m_settings.endpoint),
                fmt::format("{} (after {} attempts)", transport_error, m_settings.attempts), "check [backup] s3_endpoint and the network");
  return r;
}

void S3Storage::fail(const std::string& what, const Response& r) const
{
  std::string code = xml_one(r.body, "Code"), message = xml_one(r.body, "Message");
  std::string why = code.empty() ? fmt::format("HTTP {}", r.status) : fmt::format("HTTP {} {}: {}", r.status, code, message);
  if (r.status == 401 || r.status == 403)
    throw Error(ExitCode::unavailable, what + ": the S3 endpoint refused the credentials", why,
                fmt::format("check the key pair (from {}) and that it may use bucket {}", m_credentials.source, m_settings.bucket));
  if (r.status == 404 && code == "NoSuchBucket")
    throw Error(ExitCode::unavailable, what, why, fmt::format("create bucket {} or fix [backup] repo", m_settings.bucket));
  throw Error(r.status >= 500 || r.status == 429 ? ExitCode::unavailable : ExitCode::failed, what, why);
}

void S3Storage::ensure()
{
  // A listing that matches at most one object proves the bucket, the endpoint and the key pair.
  // (No max-keys: s3rver answers a truncated listing with an internal error.)
  std::string probe = (m_settings.prefix.empty() ? "" : m_settings.prefix + "/") + "last_failure.json";
  auto r = request("GET", "", s3_query({{"list-type", "2"}, {"prefix", probe}}), {});
  if (r.status != 200) fail(fmt::format("cannot use the backup repository {}", location()), r);
  save_credentials_file();
}

fs::path S3Storage::stage(const std::string& key)
{
  return spool() / replace_all(key, "/", "_");
}

void S3Storage::discard(const fs::path& staged)
{
  std::error_code ec;
  fs::remove(staged, ec);
}

void S3Storage::commit(const std::string& key, const fs::path& staged)
{
  try {
    upload_file(key, staged);
  } catch (...) {
    discard(staged);
    throw;
  }
  discard(staged);
}

void S3Storage::upload_file(const std::string& key, const fs::path& file)
{
  std::error_code ec;
  std::uint64_t size = fs::file_size(file, ec);
  if (ec) throw Error(ExitCode::failed, fmt::format("cannot read {}", file.string()), ec.message());
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ExitCode::failed, fmt::format("cannot read {}", file.string()), std::strerror(errno));
  struct Close {
    int fd;
    ~Close() { ::close(fd); }
  } close_fd{fd};
  std::string buf;
  auto read_part = [&](std::uint64_t n) {
    buf.resize(n);
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = ::read(fd, buf.data() + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) throw Error(ExitCode::failed, fmt::format("cannot read {}", file.string()), r < 0 ? std::strerror(errno) : "file shrank");
      got += static_cast<std::size_t>(r);
    }
  };
  std::string what = fmt::format("cannot upload {} to {}", key, location());
  if (size <= m_settings.part_size) {
    read_part(size);
    put(key, buf);
    return;
  }
  auto init = request("POST", key, "uploads=", {});
  if (init.status != 200) fail(what, init);
  std::string upload_id = xml_one(init.body, "UploadId");
  if (upload_id.empty()) throw Error(ExitCode::failed, what, "the endpoint returned no UploadId");
  std::string upload_q = s3_query({{"uploadId", upload_id}});
  try {
    std::string done = "<CompleteMultipartUpload>";
    int part = 0;
    for (std::uint64_t off = 0; off < size; off += m_settings.part_size) {
      read_part(std::min(m_settings.part_size, size - off));
      ++part;
      auto r = request("PUT", key, s3_query({{"partNumber", std::to_string(part)}, {"uploadId", upload_id}}), buf);
      if (r.status != 200) fail(fmt::format("{} (part {})", what, part), r);
      done += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", part, r.headers["etag"]);
    }
    done += "</CompleteMultipartUpload>";
    auto r = request("POST", key, upload_q, done);
    // CompleteMultipartUpload can fail with 200 and an <Error> body.
    if (r.status != 200 || r.body.find("<Error>") != std::string::npos) fail(what, r);
  } catch (...) {
    try {
      request("DELETE", key, upload_q, {});
    } catch (const Error&) {
    }
    throw;
  }
  // The stored size is what was sent; the manifest's SHA-256 is re-checked by every read.
  auto head = request("HEAD", key, "", {});
  if (head.status != 200) fail(what, head);
  if (head.headers["content-length"] != std::to_string(size))
    throw Error(ExitCode::failed, what, fmt::format("the stored object has {} bytes, {} were sent", head.headers["content-length"], size));
}

void S3Storage::put(const std::string& key, std::string_view data)
{
  auto r = request("PUT", key, "", data);
  // The server checked Content-MD5 and the signed SHA-256 of the body before storing it.
  if (r.status != 200) fail(fmt::format("cannot upload {} to {}", key, location()), r);
}

std::optional<std::string> S3Storage::get(const std::string& key)
{
  auto r = request("GET", key, "", {});
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) fail(fmt::format("cannot read {} from {}", key, location()), r);
  return r.body;
}

LocalCopy S3Storage::fetch(const std::string& key)
{
  fs::path p = spool() / fmt::format("{}.{:x}", replace_all(key, "/", "_"), std::random_device{}());
  LocalCopy copy(p, true);
  auto r = request("GET", key, "", {}, &p);
  if (r.status == 404) throw Error(ExitCode::failed, fmt::format("{} is missing from {}", key, location()));
  if (r.status != 200) fail(fmt::format("cannot read {} from {}", key, location()), r);
  return copy;
}

std::vector<ObjectInfo> S3Storage::list(const std::string& prefix)
{
  std::vector<ObjectInfo> out;
  std::string full = m_settings.prefix.empty() ? prefix : m_settings.prefix + "/" + prefix;
  std::string token;
  while (true) {
    std::map<std::string, std::string> q{{"list-type", "2"}, {"prefix", full}};
    if (!token.empty()) q["continuation-token"] = token;
    auto r = request("GET", "", s3_query(q), {});
    if (r.status != 200) fail(fmt::format("cannot list {}", location()), r);
    for (const auto& c : xml_all(r.body, "Contents")) {
      ObjectInfo o;
      std::string k = xml_one(c, "Key");
      o.key = m_settings.prefix.empty() ? k : k.substr(std::min(k.size(), m_settings.prefix.size() + 1));
      auto slash = o.key.rfind('/');
      if (o.key.compare(slash == std::string::npos ? 0 : slash + 1, 1, ".") == 0) continue;
      o.size = std::strtoull(xml_one(c, "Size").c_str(), nullptr, 10);
      o.mtime_us = parse_time(xml_one(c, "LastModified")).value_or(0);
      out.push_back(std::move(o));
    }
    token = xml_one(r.body, "NextContinuationToken");
    if (xml_one(r.body, "IsTruncated") != "true" || token.empty()) break;
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return out;
}

void S3Storage::remove(const std::string& key)
{
  auto r = request("DELETE", key, "", {});
  if (r.status != 204 && r.status != 200 && r.status != 404) fail(fmt::format("cannot remove {} from {}", key, location()), r);
}

void S3Storage::remove_prefix(const std::string& prefix)
{
  // manifest.json goes first, so a backup being removed is never listed as valid.
  auto objects = list(prefix);
  std::stable_partition(objects.begin(), objects.end(), [](const auto& o) { return util::ends_with(o.key, "/manifest.json"); });
  for (const auto& o : objects) remove(o.key);
}

} // namespace statectl::backup
