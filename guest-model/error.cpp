#include "guest-model/error.h"

#include <cstring>

namespace krr {

std::string errno_text(int err) {
    char buf[256];
    // GNU strerror_r returns the message, which may not live in buf.
    const char* text = strerror_r(err, buf, sizeof buf);
    return text;
}

} // namespace krr
