#include "commands/examples.h"

namespace statectl::commands {

const std::map<std::string, std::vector<std::string>>& command_examples()
{
  // Each line is a complete command an operator can paste; a "# ..." tail says what it does.
  static const std::map<std::string, std::vector<std::string>> examples = {
    {"", {"statectl deploy && statectl status", "statectl --backend redis put greeting hello"}},
    {"deploy", {"statectl deploy", "statectl deploy --target compose --timeout 5m"}},
    {"destroy", {"statectl destroy", "statectl destroy --purge   # also deletes the data"}},
    {"status", {"statectl status", "statectl status -o json"}},
    {"psql", {"statectl psql -- -c 'SELECT version()'", "statectl psql --replica"}},
    {"redis-cli", {"statectl redis-cli -- INFO replication"}},
    {"init", {"statectl init", "statectl init --target k8s --file k8s.toml"}},
    {"config", {"statectl config validate", "statectl -e prod config show"}},
    {"config show", {"statectl config show", "statectl -e prod config show -o json"}},
    {"config validate", {"statectl -c prod.toml config validate"}},
    {"config keys", {"statectl config keys"}},
    {"capacity", {"statectl capacity plan --ram 16GB --cpus 4", "statectl capacity check"}},
    {"capacity plan", {"statectl capacity plan --ram 16GB --cpus 4 --data-size 50GB --growth 5GB/month",
                       "statectl capacity plan --ram 64GB --cpus 16 --format postgresql.conf"}},
    {"capacity check", {"statectl capacity check", "statectl capacity check --warn 70 --skip backup_age,redis_evictions"}},
    {"capacity bench", {"statectl capacity bench --duration 30s --clients 8", "statectl capacity bench --backend redis --read-ratio 0.5"}},
    {"failover", {"statectl failover test --backend postgres", "statectl failover switchover"}},
    {"failover test", {"statectl failover test --backend postgres --trials 3 --max-rto 10s --max-lost 0",
                       "statectl failover test --backend redis -o json"}},
    {"failover switchover", {"statectl failover switchover", "statectl failover switchover --backend redis"}},
    {"failover promote", {"statectl failover promote   # the primary is down", "statectl failover promote --member postgres-1 --force"}},
    {"render", {"statectl render --target k8s --out ./k8s", "statectl render --target terraform --cloud gcp"}},
    {"scale", {"statectl scale postgres --replicas 2", "statectl scale pooler --replicas 3 --target k8s"}},
    {"secrets", {"statectl secrets generate", "statectl secrets list"}},
    {"secrets generate", {"statectl secrets generate", "statectl secrets generate app --length 48"}},
    {"secrets tls", {"statectl secrets tls --san db.example.com"}},
    {"secrets list", {"statectl secrets list -o json"}},
    {"secrets get", {"statectl secrets get app"}},
    {"secrets rotate", {"statectl secrets rotate app --apply"}},
    {"secrets push", {"statectl secrets push --target k8s"}},
    {"secrets keygen", {"statectl secrets keygen --out /etc/statectl/master.key"}},
    {"backup", {"statectl backup create", "statectl backup list"}},
    {"backup create", {"statectl backup create", "statectl backup create --type logical"}},
    {"backup list", {"statectl backup list -o json"}},
    {"backup info", {"statectl backup info"}},
    {"backup verify", {"statectl backup verify", "statectl backup verify --restore-test"}},
    {"backup prune", {"statectl --dry-run backup prune", "statectl backup prune"}},
    {"wal", {"statectl wal push pg_wal/000000010000000000000001"}},
    {"wal push", {"statectl wal push pg_wal/000000010000000000000001   # archive_command = 'statectl wal push %p'"}},
    {"wal fetch", {"statectl wal fetch 000000010000000000000001 pg_wal/RECOVERYXLOG   # restore_command = 'statectl wal fetch %f %p'"}},
    {"restore", {"statectl restore --to /srv/pg-copy --target-time '2026-01-31 12:00:00' --start",
                 "statectl restore --to /srv/pg-copy --latest"}},
    {"get", {"statectl get config/feature-x", "statectl get --backend redis session/42 -o json"}},
    {"put", {"statectl put config/feature-x on --ttl 1h", "printf 'a\\t1\\nb\\t2\\n' | statectl put --batch -"}},
    {"del", {"statectl del config/feature-x session/42"}},
    {"keys", {"statectl keys --prefix config/ --limit 100", "statectl keys -o json"}},
    {"ttl", {"statectl ttl session/42"}},
    {"gc", {"statectl gc"}},
    {"lock", {"statectl lock nightly-report --ttl 1m --wait 10s -- ./report.sh"}},
    {"locks", {"statectl locks", "statectl --backend redis locks -o json"}},
    {"checkpoint", {"statectl checkpoint create --name before-migration", "statectl checkpoint list"}},
    {"checkpoint create", {"statectl checkpoint create --name before-migration"}},
    {"checkpoint list", {"statectl checkpoint list -o json"}},
    {"checkpoint restore", {"statectl checkpoint restore 3   # an id from checkpoint list"}},
    {"completion", {"statectl completion bash > /etc/bash_completion.d/statectl", "statectl completion fish > ~/.config/fish/completions/statectl.fish"}},
    {"version", {"statectl version", "statectl version -o json"}},
  };
  return examples;
}

} // namespace statectl::commands
