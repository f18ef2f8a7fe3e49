// Stage ranks against scale-up domains (see domain_layout.h).
#include "ir/domain_layout.h"

namespace tandem::ir {

bool stage_ranks_alike_on_domains(int64_t stage_ranks, int64_t ep, int64_t domain) {
  if (stage_ranks <= 0 || ep <= 0 || domain <= 0) return false;
  if (domain % stage_ranks == 0) return true;   // whole stages per domain: a stage's ranks are one domain's
  if (stage_ranks % domain != 0) return false;  // a domain boundary falls inside stages, at varying offsets
  return domain % ep == 0 || ep % domain == 0;
}

}  // namespace tandem::ir
