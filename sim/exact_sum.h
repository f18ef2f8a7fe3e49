// A sum of non-negative doubles that does not depend on the order of its terms: each term is held as a
// 64.64 fixed-point number (bits below 2^-64 dropped), so the same terms give the same total however
// they are grouped. Link bytes are summed so: a collective added once for all its copies totals what
// its copies added one by one do.
#pragma once
#include <cmath>
#include <cstdint>

namespace tandem::sim {

class ExactSum {
 public:
  // NOTE: terms must lie in [0, 2^63); link bytes of a step stay far below (2^63 B is 9.2 EB).
  void add(double v) {
    const double whole = std::floor(v);
    add_fixed(uint64_t(whole), uint64_t(std::ldexp(v - whole, 64)));
  }
  ExactSum& operator+=(const ExactSum& o) {
    add_fixed(o.whole_, o.fraction_);
    return *this;
  }
  double value() const { return double(whole_) + std::ldexp(double(fraction_), -64); }
  bool operator==(const ExactSum&) const = default;

 private:
  void add_fixed(uint64_t whole, uint64_t fraction) {
    const uint64_t f = fraction_ + fraction;
    whole_ += whole + (f < fraction_ ? 1 : 0);
    fraction_ = f;
  }
  uint64_t whole_ = 0, fraction_ = 0;
};

}  // namespace tandem::sim
