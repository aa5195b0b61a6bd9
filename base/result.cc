#include "base/result.h"

#include <cstring>

namespace sandgate::base {

std::string Error::Message() const {
  if (errnum == 0) return context;
  return context + ": " + std::strerror(errnum);
}

Error ErrnoError(std::string context) { return Error{errno, std::move(context)}; }

}  // namespace sandgate::base
