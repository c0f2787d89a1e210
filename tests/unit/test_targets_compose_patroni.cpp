// When a Patroni cluster on compose can lose its leader: the readiness `failover test` waits for
// before each fault and after each heal.
#include <doctest/doctest.h>

#include "core/targets/compose_patroni.h"

using statectl::targets::detail::compose_patroni::failover_ready;
using statectl::targets::detail::compose_patroni::Member;

namespace {

Member member(const std::string& name, const std::string& role, const std::string& state, bool running = true)
{
  Member m;
  m.name = name;
  m.container = "c-" + name;
  m.running = running;
  m.listed = !role.empty();
  m.role = role;
  m.state = state;
  return m;
}

} // namespace

TEST_CASE("a synchronous Patroni cluster is ready for a failover only with a streaming sync_standby")
{
  std::vector<Member> right_after_failover = {member("patroni-1", "leader", "running"), member("patroni-2", "replica", "streaming"),
                                              member("patroni-3", "replica", "streaming")};
  CHECK_FALSE(failover_ready(right_after_failover, true));
  CHECK(failover_ready(right_after_failover, false));

  std::vector<Member> named = right_after_failover;
  named[2].role = "sync_standby";
  CHECK(failover_ready(named, true));

  named[2].state = "starting";
  CHECK_FALSE(failover_ready(named, true));

  named[2].state = "streaming";
  named[2].running = false; // its container died since Patroni last updated the view
  CHECK_FALSE(failover_ready(named, true));
}

TEST_CASE("no Patroni cluster is ready for a failover without a running leader")
{
  std::vector<Member> leaderless = {member("patroni-1", "leader", "stopped"), member("patroni-2", "sync_standby", "streaming")};
  CHECK_FALSE(failover_ready(leaderless, true));
  CHECK_FALSE(failover_ready(leaderless, false));
  std::vector<Member> alone = {member("patroni-1", "leader", "running"), member("patroni-2", "", "", false)};
  CHECK_FALSE(failover_ready(alone, false));
}

TEST_CASE("a scale that drops the Patroni leader hands over to the synchronous standby when it stays")
{
  using statectl::targets::detail::compose_patroni::staying_candidate;
  std::vector<Member> members = {member("patroni-1", "replica", "streaming"), member("patroni-2", "sync_standby", "streaming"),
                                 member("patroni-3", "leader", "running")};
  CHECK(staying_candidate(members, 2) == "patroni-2");
  CHECK(staying_candidate(members, 1) == "patroni-1"); // the sync standby goes too
  members[1].role = "replica";
  members[0].role = "sync_standby";
  CHECK(staying_candidate(members, 2) == "patroni-1");
}
