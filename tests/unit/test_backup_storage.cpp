// The repository's storage drivers: the local folder through the Storage interface, and the
// S3 driver's URL and query building (the requests themselves run against a signature-checking
// S3 endpoint in tests/integration/test_backup_s3.sh).
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>

#include "core/backup/repository.h"
#include "core/backup/s3.h"
#include "core/backup/storage.h"
#include "tests/support/temp_dir.h"

using namespace statectl;
using namespace statectl::backup;

TEST_CASE("backup storage: s3:// URLs split into bucket and prefix; bad bucket names are refused")
{
  auto p = parse_s3_url("s3://my-backups/cluster1/pg/");
  REQUIRE(p);
  CHECK(p->first == "my-backups");
  CHECK(p->second == "cluster1/pg");
  CHECK(parse_s3_url("s3://my-backups")->second == "");
  CHECK_FALSE(parse_s3_url("s3://My_Bucket/x"));
  CHECK_FALSE(parse_s3_url("s3://ab"));
  CHECK_FALSE(parse_s3_url("/srv/backups"));
  CHECK(is_s3_location("s3://b/p"));
  CHECK_FALSE(is_s3_location("/tmp/s3://x"));
}

TEST_CASE("backup storage: S3 object URLs in path and host style, queries sorted and encoded")
{
  S3Settings s;
  s.bucket = "bkt";
  s.prefix = "c1";
  s.endpoint = "http://127.0.0.1:9000/";
  s.path_style = true;
  CHECK(s3_url(s, "backups/20261122-033512F/manifest.json") == "http://127.0.0.1:9000/bkt/c1/backups/20261122-033512F/manifest.json");
  CHECK(s3_url(s, "", "list-type=2") == "http://127.0.0.1:9000/bkt/?list-type=2");
  s.path_style = false;
  s.endpoint = "https://s3.eu-west-1.amazonaws.com";
  CHECK(s3_url(s, "wal/00000001/x y.zst") == "https://bkt.s3.eu-west-1.amazonaws.com/c1/wal/00000001/x%20y.zst");
  CHECK(s3_query({{"prefix", "c1/wal/"}, {"list-type", "2"}, {"continuation-token", "a+b="}}) ==
        "continuation-token=a%2Bb%3D&list-type=2&prefix=c1%2Fwal%2F");
  CHECK(s3_encode("a-b_c.d~e/f g", true) == "a-b_c.d~e/f%20g");
}

TEST_CASE("backup storage: a local repository lists objects by key, shows files being written, removes a backup")
{
  testing::TempDir tmp;
  Repository repo(tmp.path() / "repo");
  repo.ensure();
  auto& st = repo.storage();
  st.put("backups/20261122-033512F/base.tar.zst", "data");
  {
    std::ofstream(tmp.path() / "repo" / "backups" / "20261122-033512F" / ".manifest.json.tmp.1") << "partial";
  }
  auto entries = repo.backups();
  REQUIRE(entries.size() == 1);
  CHECK_FALSE(entries[0].valid);
  CHECK(entries[0].stored_bytes == 4 + 7);
  Manifest m;
  m.id = "20261122-033512F";
  m.type = "full";
  repo.write_manifest(m);
  entries = repo.backups();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].valid);
  CHECK(entries[0].manifest->type == "full");
  auto keys = st.list("backups/");
  REQUIRE(keys.size() == 3);
  CHECK(keys[0].key == "backups/20261122-033512F/.manifest.json.tmp.1");
  CHECK(keys[1].key == "backups/20261122-033512F/base.tar.zst");
  CHECK(keys[2].key == "backups/20261122-033512F/manifest.json");
  CHECK(st.get("backups/20261122-033512F/base.tar.zst") == std::optional<std::string>("data"));
  CHECK_FALSE(st.get("backups/none"));
  repo.remove_backup("20261122-033512F");
  CHECK(repo.backups().empty());
  CHECK(repo.location() == (tmp.path() / "repo").string());
}
