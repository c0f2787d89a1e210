// The backup age check of `capacity check`.
#include "core/capacity/check.h"

namespace statectl::capacity {

void check_backup(const config::Config&, const Thresholds&, std::vector<CheckResult>& out)
{
  CheckResult r;
  r.name = "backup_age";
  r.component = "backup";
  r.status = Status::unknown;
  r.value = "no backup repository";
  r.message = "the backup repository API is not available in this build";
  out.push_back(std::move(r));
}

} // namespace statectl::capacity
